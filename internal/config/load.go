package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// Load reads a configuration file, YAML (.yaml, .yml) or TOML (.toml) by its
// extension. It neither applies defaults nor validates: the caller runs
// ApplyDefaults, then Validate.
//
// What the file may say beyond the keys of the types:
//   - ${VAR} and ${VAR:-default} in any value (not in keys) expand from the
//     environment before the value is converted, so `weight: ${W:-2}` is an
//     integer; $$ is a $; an unset ${VAR} without default is a problem.
//   - A key "xFile", where the struct has a string field x but no field
//     xFile, reads x from that file (at most 64KiB, trailing newline dropped).
//   - A key written twice is a problem, in both formats. YAML anchors,
//     aliases and merge keys (<<) work; a file holds one YAML document.
//
// A file that cannot be read is a wrapped fs error; anything wrong with its
// content is a Problems listing every problem found, each with its position.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return loader{}.parseMain(path, data)
}

// Parse is Load on a file's content; name gives the format by its extension
// and is the file name in positions.
func Parse(name string, data []byte) (*Config, error) {
	return loader{}.parseMain(name, data)
}

// loader carries what Load takes from the process, so that tests and the
// fuzzer can give their own environment and files.
type loader struct {
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
	more      func(*Config) *Config // LoadAllWith
}

// parseMain reads a main config file. When the file has problems, the
// Problems also hold what Validate finds in the part that could be read, so
// that one run of `usher validate` shows every mistake: a misspelt key and a
// broken rule together. A problem already reported for a key hides the
// validation problems of that key and of what is below or above it, which
// would only repeat it. This is skipped when the file provider names a
// directory, whose files may define what the main file refers to.
func (l loader) parseMain(name string, data []byte) (*Config, error) {
	var cfg *Config
	probs := safely(name, func() Problems {
		var probs Problems
		cfg, probs = l.decodeFile(name, data, false)
		if len(probs) == 0 || cfg == nil {
			return probs
		}
		if p := cfg.Providers; p != nil && p.File != nil && p.File.Directory != "" {
			return probs
		}
		for _, vp := range Validate(cfg) {
			if !slices.ContainsFunc(probs, func(lp Problem) bool { return related(lp.Path, vp.Path) }) {
				probs = append(probs, vp)
			}
		}
		return probs
	})
	if len(probs) > 0 {
		return nil, probs
	}
	return cfg, nil
}

// related reports whether one key path is the other or below it.
func related(a, b string) bool {
	return a != "" && b != "" && (under(a, b) || under(b, a))
}

// parse reads a file without validating it: a file of the dynamic directory
// is only a part of a config.
func (l loader) parse(name string, data []byte, dynamicOnly bool) (*Config, error) {
	var cfg *Config
	probs := safely(name, func() Problems {
		var probs Problems
		cfg, probs = l.decodeFile(name, data, dynamicOnly)
		return probs
	})
	if len(probs) > 0 {
		return nil, probs
	}
	return cfg, nil
}

// safely runs f, turning a panic into a problem: a bug in a parser must not
// take usher down on a reload.
func safely(name string, f func() Problems) (probs Problems) {
	defer func() {
		if r := recover(); r != nil {
			probs = Problems{{Pos: Pos{File: name}, Msg: fmt.Sprintf("internal error while reading the file: %v", r)}}
		}
	}()
	return f()
}

// decodeFile reads and decodes a file. With problems, the config is what
// could be read (or nil when the file could not be parsed at all).
func (l loader) decodeFile(name string, data []byte, dynamicOnly bool) (*Config, Problems) {
	root, probs := readTree(name, data)
	if len(probs) > 0 {
		return nil, probs
	}
	if root.kind == kindNull {
		return nil, Problems{emptyFile(name)}
	}
	if root.weight > maxNodes {
		return nil, Problems{{Pos: Pos{File: name}, Msg: fmt.Sprintf("the file stands for more than %d values (through YAML aliases)", maxNodes)}}
	}
	if root.kind != kindMap {
		return nil, Problems{{Pos: root.pos, Msg: "expected a mapping of keys at the top of the file, got " + root.describe()}}
	}
	if dynamicOnly {
		root, probs = dynamicPart(root)
	}
	d := &decoder{src: NewSource(), lookup: l.lookupEnv, readFile: l.readFile, probs: probs}
	if d.lookup == nil {
		d.lookup = os.LookupEnv
	}
	if d.readFile == nil {
		d.readFile = readSecretFile
	}
	cfg := &Config{}
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	cfg.Source = d.src
	return cfg, d.probs
}

// emptyFile is the problem of a file that holds no key at all. It is refused
// rather than read as an empty configuration: a file caught between the
// truncate and the write of a save looks just so, and taking it would drop
// every router at once. A configuration that means "nothing" says so with
// "{}" (YAML) or an empty table such as "[http]" (TOML).
func emptyFile(name string) Problem {
	return Problem{Pos: Pos{File: name}, Msg: "the file is empty (only whitespace or comments); refused, as a file caught half-written would be. " +
		"Write {} (YAML) or [http] (TOML) to configure nothing; replace files atomically (write a temporary file, then rename it over this one)"}
}

func readTree(name string, data []byte) (*node, Problems) {
	read := readYAML
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
	case ".toml":
		read = readTOML
	default:
		return nil, Problems{{Pos: Pos{File: name}, Msg: fmt.Sprintf("unknown file type %q: use .yaml, .yml or .toml", filepath.Ext(name))}}
	}
	if len(bytes.TrimSpace(data)) == 0 { // YAML would call a tab a syntax error
		return newNull(Pos{File: name}), nil
	}
	return read(name, data)
}

// dynamicKeys are the top-level keys of the dynamic half.
var dynamicKeys = []string{"http", "tcp", "udp", "tls"}

// dynamicPart drops static keys from a file of the dynamic directory, with a
// problem for each: they would otherwise look accepted and do nothing.
func dynamicPart(root *node) (*node, Problems) {
	var probs Problems
	out := newMap(root.pos)
	info := structOf(reflect.TypeFor[Config]())
	for _, e := range root.entries {
		if _, known := info.byKey[e.key]; known && !slices.Contains(dynamicKeys, e.key) {
			probs = append(probs, Problem{Pos: e.pos, Path: e.key,
				Msg: fmt.Sprintf("%q is a static key, which only the main configuration file may hold; a file of the dynamic directory holds only %s", e.key, strings.Join(dynamicKeys, ", "))})
			continue
		}
		out.entries = append(out.entries, e)
	}
	return out, probs
}

// LoadDynamicDir reads every .yaml, .yml and .toml file of dir, in name order,
// and merges them. Each may hold only dynamic keys (http, tcp, udp, tls).
// Files whose names start with a dot (editors' temporary files) are skipped.
func LoadDynamicDir(dir string) (*Config, error) {
	return loader{}.loadDir(dir)
}

func (l loader) loadDir(dir string) (*Config, error) {
	parts, probs, _ := l.readDir(dir)
	if len(probs) > 0 {
		return nil, probs
	}
	return Merge(&Config{Source: NewSource()}, parts...)
}
