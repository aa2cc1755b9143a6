package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// LoadAll reads the configuration a running usher serves: the main file at
// path and, when providers.file.directory names a directory (relative to the
// main file's), every dynamic file in it, merged, and validated as a whole.
// It neither applies defaults nor compiles.
//
// Every problem of every file comes back together, so that one `usher
// validate` shows them all: a directory that cannot be read is a problem at
// the key that names it, beside the problems of the main file; a file that
// cannot be read or parsed is one problem beside those of the others. When a
// part could not be read at all, references to names it may have defined
// (services, middlewares, TLS options) are not reported as missing, since
// they may well be there. As in Load, a validation problem about a key that
// already has a loading problem is left out.
//
// Only a main file that cannot be read is a plain error (no key named it).
func LoadAll(path string) (*Config, error) {
	return loader{}.loadAll(path)
}

// LoadAllWith is LoadAll with the dynamic configuration of other providers:
// more gets the files' configuration, merged, and returns it merged with
// theirs (it must not change its argument); the whole is validated, so that
// a router of the file may use a service of a container. more leaves out
// whatever of its own would not merge or validate: a problem left is the
// files'.
func LoadAllWith(path string, more func(files *Config) *Config) (*Config, error) {
	return loader{more: more}.loadAll(path)
}

// DynamicDir is the directory of dynamic files cfg names, resolved against
// the directory of the main file at path; "" when it names none.
func DynamicDir(cfg *Config, path string) string {
	if cfg == nil || cfg.Providers == nil || cfg.Providers.File == nil || cfg.Providers.File.Directory == "" {
		return ""
	}
	dir := cfg.Providers.File.Directory
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(path), dir)
	}
	return dir
}

func (l loader) loadAll(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var cfg *Config
	probs := safely(path, func() Problems {
		var probs Problems
		cfg, probs = l.decodeFile(path, data, false)
		if cfg == nil {
			return probs
		}
		complete := true
		var mprobs Problems
		if dir := DynamicDir(cfg, path); dir != "" {
			parts, dprobs, ok := l.readDir(dir)
			if !ok {
				complete = false
				if len(dprobs) == 1 && dprobs[0].Path == "" && dprobs[0].Pos.File == "" {
					// The directory itself: the problem is where it is named.
					dprobs[0] = cfg.Problemf("providers.file.directory", "%s", dprobs[0].Msg)
				}
			}
			probs = append(probs, dprobs...)
			cfg, mprobs = merge(cfg, parts...)
		}
		if l.more != nil {
			cfg = l.more(cfg)
		}
		// A name defined twice keeps its first definition, whose own
		// problems are still worth reporting: merge problems hide none.
		out := append(slices.Clip(probs), mprobs...)
		for _, vp := range Validate(cfg) {
			if !complete && vp.missingName {
				continue
			}
			if !slices.ContainsFunc(probs, func(lp Problem) bool { return related(lp.Path, vp.Path) }) {
				out = append(out, vp)
			}
		}
		return out
	})
	if len(probs) > 0 {
		return nil, probs
	}
	return cfg, nil
}

// readDir reads the dynamic files of dir, in name order: the configs that
// could be read (with problems or not), every problem, and whether every
// file was read (false too when the directory itself could not be). A
// directory that cannot be read is one problem with neither position nor
// path, for the caller to place.
func (l loader) readDir(dir string) (parts []*Config, probs Problems, complete bool) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, Problems{{Msg: fmt.Sprintf("cannot read the directory %s: %v", dir, fsCause(err))}}, false
	}
	complete = true
	for _, ent := range ents { // ReadDir sorts by name
		name := ent.Name()
		switch strings.ToLower(filepath.Ext(name)) {
		case ".yaml", ".yml", ".toml":
		default:
			continue
		}
		if strings.HasPrefix(name, ".") || ent.IsDir() {
			continue
		}
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			probs = append(probs, Problem{Pos: Pos{File: path}, Msg: fmt.Sprintf("cannot read the file: %v", fsCause(err))})
			complete = false
			continue
		}
		var cfg *Config
		fprobs := safely(path, func() Problems {
			var p Problems
			cfg, p = l.decodeFile(path, data, true)
			return p
		})
		probs = append(probs, fprobs...)
		if cfg == nil {
			complete = false
			continue
		}
		parts = append(parts, cfg)
	}
	return parts, probs, complete
}

// fsCause drops the operation and path of an fs error, which the message
// around it already says: "no such file or directory", "permission denied".
func fsCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkReadable tells why a file named by the config cannot be read, or nil:
// it must exist, be a file rather than a directory, and open for reading.
func checkReadable(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", name, fsCause(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", name, fsCause(err))
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, not a file", name)
	}
	return nil
}
