package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse feeds any bytes to both readers and everything after them: no
// input may panic, and a config that loads must survive the other calls.
// The seeds run as a regular test; `go test -fuzz=FuzzParse` explores.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/full.yaml", "testdata/full.toml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "a: &a [*a]", "<<: {}", "x: !!binary aGk=", "? [a]\n: b", "http: { middlewares: { m: { chain: {} } } }",
		"[[a]]\n[a]", "a.b = 1\n[a]\nb.c = 2", "t = 1979-05-27T07:32:00Z", "x = { a = [ { b = 1 } ] }",
		"admin: { token: a, tokenFile: b }", "entrypoints: { e: { address: '${X:-${Y:-1}}' } }",
		"http:\n  services:\n    a: { weighted: { services: [ { name: a } ] } }",
	} {
		f.Add([]byte(s))
	}
	l := loader{
		lookupEnv: func(k string) (string, bool) { return "v", k == "SET" },
		readFile:  func(string) ([]byte, error) { return nil, errors.New("no files in the fuzzer") },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"f.yaml", "f.toml"} {
			cfg, err := l.parseMain(name, data)
			if err != nil {
				var ps Problems
				if !errors.As(err, &ps) || len(ps) == 0 {
					t.Fatalf("%s: error is not Problems: %v", name, err)
				}
				continue
			}
			_ = Validate(cfg)
			cfg.ApplyDefaults()
			_ = Validate(cfg)
			_ = cfg.Redacted()
			_ = StaticEqual(cfg, cfg)
			if _, err := Merge(&Config{}, cfg); err != nil {
				t.Fatalf("%s: merging one config: %v", name, err)
			}
		}
	})
}
