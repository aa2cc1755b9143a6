// Package userfile reads and writes the users file of the login portal:
// per user a password hash (package passwd: argon2id, bcrypt…), groups and
// a TOTP secret (package totp).
//
// Two formats, told apart by their content. YAML (or JSON, which YAML
// reads):
//
//	users:
//	  alice:
//	    password: $argon2id$v=19$m=65536,t=3,p=2$…
//	    groups: [admin, dev]
//	    totp: JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
//
// or lines, an htpasswd file with two more optional fields:
//
//	alice:$argon2id$v=19$…:admin,dev:JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
//
// A file whose top level is a mapping with a users key is YAML; any other
// is lines (# comments and empty lines skipped).
package userfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/usher-lb/usher/internal/passwd"
	"github.com/usher-lb/usher/internal/totp"
)

// User is one user of the file.
type User struct {
	Name   string
	Hash   string   // the password hash, as in the file
	Groups []string // nil when none
	TOTP   []byte   // the decoded TOTP secret, nil when none
}

// Format is how a file is written.
type Format int

const (
	Lines Format = iota
	YAML
	JSON
)

// File is a parsed users file.
type File struct {
	Users  []User // in file order
	Format Format
	// Passwords are the users' hashes, parsed, to Verify against.
	Passwords *passwd.Users

	node *yaml.Node // the YAML document, to write back with its comments
}

// Lookup returns the user called name.
func (f *File) Lookup(name string) (*User, bool) {
	for i := range f.Users {
		if f.Users[i].Name == name {
			return &f.Users[i], true
		}
	}
	return nil, false
}

type yamlUser struct {
	Password string   `yaml:"password"`
	Groups   []string `yaml:"groups"`
	TOTP     string   `yaml:"totp"`
}

// Parse reads a users file's content. Errors give the line (and user) at
// fault, never a hash or a secret.
func Parse(b []byte) (*File, error) {
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) == nil && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		if users := mapValue(doc.Content[0], "users"); users != nil {
			f, err := parseYAML(users)
			if err != nil {
				return nil, err
			}
			f.Format, f.node = YAML, &doc
			if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
				f.Format = JSON
			}
			return f, nil
		}
	}
	return parseLines(b)
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func parseYAML(users *yaml.Node) (*File, error) {
	f := &File{}
	if users.Kind == yaml.ScalarNode && users.Tag == "!!null" {
		return f, f.finish(nil)
	}
	if users.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: users must be a mapping of user name to {password, groups, totp}", users.Line)
	}
	var lines []int
	for i := 0; i+1 < len(users.Content); i += 2 {
		k, v := users.Content[i], users.Content[i+1]
		var yu yamlUser
		if err := v.Decode(&yu); err != nil {
			return nil, fmt.Errorf("line %d: user %q: want {password, groups, totp}", v.Line, k.Value)
		}
		u, err := newUser(k.Value, yu.Password, yu.Groups, yu.TOTP)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", k.Line, err)
		}
		f.Users = append(f.Users, u)
		lines = append(lines, k.Line)
	}
	return f, f.finish(lines)
}

func parseLines(b []byte) (*File, error) {
	f := &File{Format: Lines}
	var lines []int
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if t := strings.TrimSpace(line); t == "" || t[0] == '#' {
			continue
		}
		parts := strings.SplitN(line, ":", 4)
		if len(parts) < 2 {
			return nil, fmt.Errorf("line %d: want NAME:HASH[:GROUPS[:TOTP]]", i+1)
		}
		var groups []string
		if len(parts) > 2 && strings.TrimSpace(parts[2]) != "" {
			for _, g := range strings.Split(parts[2], ",") {
				groups = append(groups, strings.TrimSpace(g))
			}
		}
		secret := ""
		if len(parts) > 3 {
			secret = parts[3]
		}
		u, err := newUser(parts[0], strings.TrimSpace(parts[1]), groups, secret)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		f.Users = append(f.Users, u)
		lines = append(lines, i+1)
	}
	return f, f.finish(lines)
}

// finish checks that no name is there twice and parses the hashes.
func (f *File) finish(lines []int) error {
	hl := make([]string, len(f.Users))
	seen := map[string]bool{}
	for i, u := range f.Users {
		if seen[u.Name] {
			return fmt.Errorf("line %d: user %q is listed twice", lines[i], u.Name)
		}
		seen[u.Name] = true
		hl[i] = u.Name + ":" + u.Hash
	}
	pw, err := passwd.Parse(hl)
	var le *passwd.LineError
	if errors.As(err, &le) {
		return fmt.Errorf("line %d: %w", lines[le.Line-1], le.Err)
	}
	if err != nil {
		return err
	}
	f.Passwords = pw
	return nil
}

// CheckName tells whether name can be a user: it goes into a request header
// and a file line.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("the user name is empty")
	case len(name) > 128:
		return fmt.Errorf("user %.20q…: a name has 128 bytes at most", name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("user %q: a name cannot start or end with spaces", name)
	case strings.ContainsAny(name, ":,#"):
		return fmt.Errorf("user %q: a name cannot hold a colon, a comma or a #", name)
	}
	for _, c := range name {
		if c < ' ' || c == 0x7f {
			return fmt.Errorf("user %q: a name cannot hold control characters", name)
		}
	}
	return nil
}

func newUser(name, hash string, groups []string, secret string) (User, error) {
	if err := CheckName(name); err != nil {
		return User{}, err
	}
	u := User{Name: name, Hash: hash}
	for _, g := range groups {
		if err := CheckName(g); err != nil {
			return User{}, fmt.Errorf("user %q: group: %s", name, strings.TrimPrefix(err.Error(), "user "))
		}
		if !slices.Contains(u.Groups, g) {
			u.Groups = append(u.Groups, g)
		}
	}
	if strings.TrimSpace(secret) != "" {
		s, err := totp.Decode(secret)
		if err != nil {
			return User{}, fmt.Errorf("user %q: %w", name, err)
		}
		u.TOTP = s
	}
	return u, nil
}

// Read parses the file at path; its errors start with the path.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Put adds u to the file at path, or replaces the user of that name, and
// writes the file whole (through a temporary file renamed in place: a
// portal reading it meanwhile sees the old file or the new one). A file that
// does not exist is made (0600), in YAML for a name ending .yaml or .yml,
// JSON for .json, lines otherwise; an existing one keeps its format and,
// in YAML, its comments.
func Put(path string, u User) error {
	if err := CheckName(u.Name); err != nil {
		return err
	}
	b, err := os.ReadFile(path)
	mode := os.FileMode(0o600)
	var f *File
	switch {
	case errors.Is(err, os.ErrNotExist):
		f = &File{Format: Lines}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml":
			f.Format = YAML
		case ".json":
			f.Format = JSON
		}
	case err != nil:
		return err
	default:
		if f, err = Parse(b); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if st, err := os.Stat(path); err == nil {
			mode = st.Mode().Perm()
		}
	}
	out, err := f.with(u, b)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(out)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), mode)
	}
	if werr != nil {
		return werr
	}
	return os.Rename(tmp.Name(), path)
}

// with returns the content of the file (whose bytes are old) with u in it.
func (f *File) with(u User, old []byte) ([]byte, error) {
	switch f.Format {
	case Lines:
		line := u.Name + ":" + u.Hash + ":" + strings.Join(u.Groups, ",")
		if u.TOTP != nil {
			line += ":" + totp.Encode(u.TOTP)
		}
		var out []string
		done := false
		if len(old) > 0 {
			for _, l := range strings.Split(strings.TrimSuffix(string(old), "\n"), "\n") {
				if name, _, ok := strings.Cut(strings.TrimRight(l, "\r"), ":"); ok && name == u.Name && !strings.HasPrefix(strings.TrimSpace(l), "#") {
					if !done {
						out = append(out, line)
						done = true
					}
					continue
				}
				out = append(out, l)
			}
		}
		if !done {
			out = append(out, line)
		}
		return []byte(strings.Join(out, "\n") + "\n"), nil
	case JSON:
		// JSON is written again whole, in JSON (YAML's encoder would turn
		// it into YAML).
		var sb strings.Builder
		sb.WriteString("{\n  \"users\": {")
		users := slices.Clone(f.Users)
		if i := slices.IndexFunc(users, func(x User) bool { return x.Name == u.Name }); i >= 0 {
			users[i] = u
		} else {
			users = append(users, u)
		}
		for i, x := range users {
			if i > 0 {
				sb.WriteString(",")
			}
			fmt.Fprintf(&sb, "\n    %s: {\"password\": %s, \"groups\": [", jsonString(x.Name), jsonString(x.Hash))
			for j, g := range x.Groups {
				if j > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString(jsonString(g))
			}
			sb.WriteString("]")
			if x.TOTP != nil {
				fmt.Fprintf(&sb, ", \"totp\": %s", jsonString(totp.Encode(x.TOTP)))
			}
			sb.WriteString("}")
		}
		sb.WriteString("\n  }\n}\n")
		return []byte(sb.String()), nil
	}
	doc := f.node
	if doc == nil {
		doc = &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	root := doc.Content[0]
	users := mapValue(root, "users")
	if users == nil {
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "users"}, &yaml.Node{Kind: yaml.MappingNode})
		users = root.Content[len(root.Content)-1]
	}
	if users.Kind != yaml.MappingNode {
		*users = yaml.Node{Kind: yaml.MappingNode}
	}
	entry := &yaml.Node{Kind: yaml.MappingNode}
	entry.Content = append(entry.Content, scalar("password"), scalar(u.Hash))
	groups := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, g := range u.Groups {
		groups.Content = append(groups.Content, scalar(g))
	}
	entry.Content = append(entry.Content, scalar("groups"), groups)
	if u.TOTP != nil {
		entry.Content = append(entry.Content, scalar("totp"), scalar(totp.Encode(u.TOTP)))
	}
	replaced := false
	for i := 0; i+1 < len(users.Content); i += 2 {
		if users.Content[i].Value == u.Name {
			users.Content[i+1] = entry
			replaced = true
			break
		}
	}
	if !replaced {
		users.Content = append(users.Content, scalar(u.Name), entry)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	enc.Close()
	return buf.Bytes(), nil
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func jsonString(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(c)
		case c < 0x20:
			fmt.Fprintf(&sb, `\u%04x`, c)
		default:
			sb.WriteRune(c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
