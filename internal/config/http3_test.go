package config

import (
	"slices"
	"testing"
)

func TestHTTP3Decode(t *testing.T) {
	for _, c := range []struct {
		name, file, text string
		want             *HTTP3 // nil: off
	}{
		{"true", "usher.yaml", "entrypoints: { s: { address: ':443', tls: {}, http3: true } }\n", &HTTP3{}},
		{"false", "usher.yaml", "entrypoints: { s: { address: ':443', tls: {}, http3: false } }\n", nil},
		{"absent", "usher.yaml", "entrypoints: { s: { address: ':443', tls: {} } }\n", nil},
		{"options", "usher.yaml", "entrypoints: { s: { address: ':443', tls: {}, http3: { zeroRTT: true, advertisedPort: 443 } } }\n", &HTTP3{ZeroRTT: true, AdvertisedPort: 443}},
		{"empty mapping", "usher.yaml", "entrypoints: { s: { address: ':443', tls: {}, http3: {} } }\n", &HTTP3{}},
		{"from the environment", "usher.yaml", "entrypoints: { s: { address: ':443', tls: {}, http3: '${H3}' } }\n", &HTTP3{}},
		{"TOML true", "usher.toml", "[entrypoints.s]\naddress = ':443'\nhttp3 = true\n[entrypoints.s.tls]\n", &HTTP3{}},
		{"TOML table", "usher.toml", "[entrypoints.s]\naddress = ':443'\n[entrypoints.s.tls]\n[entrypoints.s.http3]\nzeroRTT = true\n", &HTTP3{ZeroRTT: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseWith(c.file, c.text, map[string]string{"H3": "true"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Entrypoints["s"].HTTP3
			if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
				t.Errorf("http3 = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestHTTP3Problems(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []string
	}{
		{"on a TLS entrypoint", "entrypoints: { s: { address: ':443', tls: {}, http3: true } }\n", nil},
		{"without tls", "entrypoints: { web: { address: ':80', http3: true } }\n", []string{
			`usher.yaml:1: entrypoints.web.http3: HTTP/3 runs over QUIC, which is always encrypted: the entrypoint needs tls`,
		}},
		{"bad port", "entrypoints: { s: { address: ':443', tls: {}, http3: { advertisedPort: 70000 } } }\n", []string{
			`usher.yaml:1: entrypoints.s.http3.advertisedPort: 70000 is not a port (1 to 65535; 0 announces the entrypoint's own)`,
		}},
		{"TLS 1.2 at most", "entrypoints: { s: { address: ':443', tls: { options: old }, http3: true } }\ntls: { options: { old: { maxVersion: '1.2' } } }\n", []string{
			`usher.yaml:1: entrypoints.s.http3: HTTP/3 needs TLS 1.3, and the entrypoint's TLS options "old" have maxVersion 1.2`,
		}},
		{"a typo of an option", "entrypoints: { s: { address: ':443', tls: {}, http3: { zeroRtt: true } } }\n", []string{
			`usher.yaml:1: entrypoints.s.http3.zeroRtt: unknown key "zeroRtt"; did you mean "zeroRTT"?`,
		}},
		{"not a boolean", "entrypoints: { s: { address: ':443', tls: {}, http3: yes please } }\n", []string{
			`usher.yaml:1: entrypoints.s.http3: expected true or false (or a mapping of options), got "yes please"`,
		}},
		{"a list", "entrypoints: { s: { address: ':443', tls: {}, http3: [true] } }\n", []string{
			`usher.yaml:1: entrypoints.s.http3: expected a mapping, got a list`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			if _, err := parseWith("usher.yaml", c.text, nil, nil); err != nil {
				got = problemLines(t, err)
			} else {
				got = validate(t, c.text)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n  %q\nwant\n  %q", got, c.want)
			}
		})
	}
}
