package config

import (
	"fmt"
	"strings"
)

// expandEnv replaces ${VAR} and ${VAR:-default} with the environment, and $$
// with $. A default is used when the variable is unset or empty, as in the
// shell, and may itself hold ${...}.
//
// Any other $ is left alone, because values legitimately hold them: password
// hashes ($argon2id$...) and regexp replacements ($1). For the same reason
// ${1} and ${2}, which name regexp groups, stay as written; a named group
// that looks like a variable needs $${name}.
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	return expandDepth(s, lookup, 0)
}

func expandDepth(s string, lookup func(string) (string, bool), depth int) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	if depth > 8 {
		return "", fmt.Errorf("defaults are nested too deep in %q", clip(s))
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := closingBrace(s, i+2)
		if end < 0 {
			return "", fmt.Errorf("unclosed ${ in %q", clip(s))
		}
		ref := s[i+2 : end]
		if ref != "" && ref[0] >= '0' && ref[0] <= '9' {
			b.WriteString(s[i : end+1])
			i = end
			continue
		}
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("bad variable reference ${%s}: want ${NAME} or ${NAME:-default}", clip(ref))
		}
		val, ok := lookup(name)
		switch {
		case hasDef && val == "":
			d, err := expandDepth(def, lookup, depth+1)
			if err != nil {
				return "", err
			}
			val = d
		case !ok:
			return "", &unsetVarError{name: name}
		}
		b.WriteString(val)
		i = end
	}
	return b.String(), nil
}

// closingBrace returns the index of the } that closes a ${ whose body starts
// at from, counting nested ${ }, or -1.
func closingBrace(s string, from int) int {
	depth := 1
	for j := from; j < len(s); j++ {
		switch {
		case s[j] == '$' && j+1 < len(s) && s[j+1] == '{':
			depth++
			j++
		case s[j] == '}':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// unsetVarError is a reference to a variable that is not set. Its message
// names the variable and nothing of the value around it.
type unsetVarError struct{ name string }

func (e *unsetVarError) Error() string {
	return fmt.Sprintf("environment variable %s is not set (write ${%s:-default} to give a default)", e.name, e.name)
}
