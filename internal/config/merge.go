package config

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Merge returns a new Config with the static half of base and the dynamic
// halves (http, tcp, udp, tls) of base and others together. A router,
// service, middleware or TLS option name defined twice is a Problem that
// names both positions; certificates add up. Positions are merged too, so
// Validate on the result points into the right files. The inputs are not
// changed, and the result shares no memory with them.
func Merge(base *Config, others ...*Config) (*Config, error) {
	out, probs := merge(base, others...)
	if len(probs) > 0 {
		return nil, probs
	}
	return out, nil
}

// merge is Merge that also returns the merged config when names conflict:
// the first definition of a name is kept.
func merge(base *Config, others ...*Config) (*Config, Problems) {
	out := base.clone(false)
	var probs Problems
	for _, o := range others {
		if o == nil {
			continue
		}
		o = o.clone(false)
		m := merger{out: out, o: o}
		m.dynamic()
		probs = append(probs, m.probs...)
		out.Source.mergeFrom(o.Source, m.skip, m.certOffset)
	}
	return out, probs
}

type merger struct {
	out, o     *Config
	probs      Problems
	skip       []string // key paths of o not taken, because they conflict
	certOffset int      // where o's tls.certificates start in out's
}

func (m *merger) dynamic() {
	out, o := m.out, m.o
	if o.HTTP != nil {
		if out.HTTP == nil {
			out.HTTP = &HTTP{}
		}
		mergeNamed(m, &out.HTTP.Routers, o.HTTP.Routers, "http.routers", "router")
		mergeNamed(m, &out.HTTP.Services, o.HTTP.Services, "http.services", "service")
		mergeNamed(m, &out.HTTP.Middlewares, o.HTTP.Middlewares, "http.middlewares", "middleware")
	}
	if o.TCP != nil {
		if out.TCP == nil {
			out.TCP = &TCP{}
		}
		mergeNamed(m, &out.TCP.Routers, o.TCP.Routers, "tcp.routers", "router")
		mergeNamed(m, &out.TCP.Services, o.TCP.Services, "tcp.services", "service")
	}
	if o.UDP != nil {
		if out.UDP == nil {
			out.UDP = &UDP{}
		}
		mergeNamed(m, &out.UDP.Routers, o.UDP.Routers, "udp.routers", "router")
		mergeNamed(m, &out.UDP.Services, o.UDP.Services, "udp.services", "service")
	}
	if o.TLS != nil {
		if out.TLS == nil {
			out.TLS = &TLS{}
		}
		m.certOffset = len(out.TLS.Certificates)
		out.TLS.Certificates = append(out.TLS.Certificates, o.TLS.Certificates...)
		mergeNamed(m, &out.TLS.Options, o.TLS.Options, "tls.options", "TLS option")
	}
}

func mergeNamed[T any](m *merger, dst *map[string]T, src map[string]T, prefix, what string) {
	names := make([]string, 0, len(src))
	for name := range src {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		path := prefix + "." + name
		if _, dup := (*dst)[name]; dup {
			where := ""
			if p := m.out.Source.Pos(path); p.File != "" {
				where = " at " + p.String()
			}
			m.probs = append(m.probs, m.o.Problemf(path, "%s %q is already defined%s", what, name, where))
			m.skip = append(m.skip, path)
			continue
		}
		if *dst == nil {
			*dst = map[string]T{}
		}
		(*dst)[name] = src[name]
	}
}

func (s *Source) clone() *Source {
	c := NewSource()
	if s != nil {
		c.Merge(s)
	}
	return c
}

// mergeFrom adds the positions of o that s does not have (the first
// definition of a section keeps its position), except those under skip, and
// moves o's certificates by certOffset to where Merge appended them.
func (s *Source) mergeFrom(o *Source, skip []string, certOffset int) {
	if o == nil {
		return
	}
	for k, v := range o.pos {
		if slices.ContainsFunc(skip, func(p string) bool { return under(k, p) }) {
			continue
		}
		k = shiftIndex(k, "tls.certificates[", certOffset)
		if _, ok := s.pos[k]; !ok {
			s.pos[k] = v
		}
	}
}

// under reports whether path is prefix or a key below it.
func under(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	rest := path[len(prefix):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

func shiftIndex(path, list string, by int) string {
	if by == 0 || !strings.HasPrefix(path, list) {
		return path
	}
	rest := path[len(list):]
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return path
	}
	i, err := strconv.Atoi(rest[:end])
	if err != nil {
		return path
	}
	return list + strconv.Itoa(i+by) + rest[end:]
}

// Redacted returns a deep copy without its secrets, for showing a config
// (admin API, dashboard, logs): every non-empty field tagged `secret:"true"`
// reads "********", so does every non-empty value of a map tagged
// `secret:"values"` (header values: the names stay), and the userinfo of a
// URL tagged `secret:"userinfo"` (see RedactURL). An empty secret stays
// empty: that it is unset gives nothing away and helps whoever reads the
// copy (an empty header value means "remove the header").
func (c *Config) Redacted() *Config { return c.clone(true) }

// Redaction is what Redacted puts in place of a secret.
const Redaction = "********"

// clone deep-copies c, hiding secrets when redact is set; nil gives an empty
// Config with an empty Source.
func (c *Config) clone(redact bool) *Config {
	out := &Config{}
	if c != nil {
		deepCopy(reflect.ValueOf(out).Elem(), reflect.ValueOf(c).Elem(), redact)
	}
	out.Source = c.sourceOrNil().clone()
	return out
}

func (c *Config) sourceOrNil() *Source {
	if c == nil {
		return nil
	}
	return c.Source
}

// deepCopy copies src into dst, which must be settable and of src's type.
func deepCopy(dst, src reflect.Value, redact bool) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		deepCopy(p.Elem(), src.Elem(), redact)
		dst.Set(p)
	case reflect.Interface:
		if src.IsNil() {
			return
		}
		e := src.Elem()
		c := reflect.New(e.Type()).Elem()
		deepCopy(c, e, redact)
		dst.Set(c)
	case reflect.Struct:
		dst.Set(src) // unexported fields are shared; Config.Source is cloned by its owner
		t := src.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			deepCopy(dst.Field(i), src.Field(i), redact)
			if redact {
				redactField(dst.Field(i), sf.Tag.Get("secret"))
			}
		}
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		it := src.MapRange()
		for it.Next() {
			v := reflect.New(src.Type().Elem()).Elem()
			deepCopy(v, it.Value(), redact)
			m.SetMapIndex(it.Key(), v)
		}
		dst.Set(m)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			deepCopy(s.Index(i), src.Index(i), redact)
		}
		dst.Set(s)
	default:
		dst.Set(src)
	}
}

// redactField hides the secret of a copied field, by its `secret` tag.
func redactField(f reflect.Value, tag string) {
	switch {
	case tag == "":
	case tag == "true" && f.Kind() == reflect.String && f.Len() > 0:
		f.SetString(Redaction)
	case tag == "userinfo" && f.Kind() == reflect.String:
		f.SetString(RedactURL(f.String()))
	case tag == "values" && f.Kind() == reflect.Map && f.Type().Elem().Kind() == reflect.String:
		it := f.MapRange()
		for it.Next() {
			if it.Value().Len() > 0 {
				f.SetMapIndex(it.Key(), reflect.ValueOf(Redaction).Convert(f.Type().Elem()))
			}
		}
	}
}

// StaticEqual reports whether a and b have the same static half (log,
// accessLog, admin, tracing, entrypoints, providers, certResolvers, cluster), once
// defaults are applied: a reload that changes it must say that the change
// waits for a restart. Writing a default out or leaving it absent is no change;
// neither is a change of an entrypoint's connection limits, which apply on reload.
func StaticEqual(a, b *Config) bool {
	return sameValue(reflect.ValueOf(staticPart(a)).Elem(), reflect.ValueOf(staticPart(b)).Elem())
}

func staticPart(c *Config) *Config {
	s := c.clone(false)
	s.HTTP, s.TCP, s.UDP, s.TLS, s.Source = nil, nil, nil, nil, nil
	for _, ep := range s.Entrypoints {
		if ep != nil { // connection limits apply on reload (conn.go)
			ep.MaxConnections, ep.MaxConnectionsPerIP = 0, 0
		}
	}
	s.ApplyDefaults()
	return s
}

// sameValue is reflect.DeepEqual except that a nil map or slice equals an
// empty one: "entrypoints: {}" and no entrypoints are the same config.
func sameValue(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		if a.Kind() == reflect.Interface && a.Elem().Type() != b.Elem().Type() {
			return false
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() && !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		it := a.MapRange()
		for it.Next() {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() || !sameValue(it.Value(), bv) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	default:
		return a.Equal(b)
	}
}
