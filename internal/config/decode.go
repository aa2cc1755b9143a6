package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// decoder fills typed values from a node tree by reflection, keyed by the
// `json` tags, so that the Go types are the one description of the file.
type decoder struct {
	src      *Source
	probs    Problems
	lookup   func(string) (string, bool)
	readFile func(string) ([]byte, error)

	// secret is the `secret` tag of the field being decoded: a problem
	// about its value must not quote it.
	secret string

	// literal is set for labels (FromLabels): values are not expanded, a
	// list of strings may be one comma-separated value, and keys match
	// case-insensitively.
	literal bool
}

var (
	durationType   = reflect.TypeFor[Duration]()
	byteSizeType   = reflect.TypeFor[ByteSize]()
	middlewareType = reflect.TypeFor[Middleware]()
	stringsType    = reflect.TypeFor[Strings]()
	http3Type      = reflect.TypeFor[*HTTP3]()
)

func (d *decoder) problem(pos Pos, path, format string, args ...any) {
	d.probs = append(d.probs, Problem{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) decode(n *node, v reflect.Value, path string) {
	t := v.Type()
	if n.kind == kindNull {
		d.decodeNull(n, v, path)
		return
	}
	switch t {
	case durationType:
		d.duration(n, v, path)
		return
	case byteSizeType:
		d.byteSize(n, v, path)
		return
	case middlewareType:
		d.middleware(n, v, path)
		return
	case http3Type:
		if n.kind == kindScalar {
			if on, ok := d.boolOrSection(n, path); ok && on {
				v.Set(reflect.ValueOf(&HTTP3{}))
			}
			return
		}
	case stringsType:
		if n.kind == kindScalar && !d.literal {
			if s, ok := d.scalar(n, path, "a string"); ok {
				v.Set(reflect.ValueOf(Strings{s}))
			}
			return
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		if d.literal && n.kind == kindScalar && t.Elem().Kind() == reflect.String {
			d.commaList(n, v, path)
			return
		}
		d.list(n, v, path)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.integer(n, v, path)
	case reflect.Bool:
		if s, ok := d.scalar(n, path, "true or false"); ok {
			switch strings.ToLower(strings.TrimSpace(s)) {
			case "true":
				v.SetBool(true)
			case "false":
				v.SetBool(false)
			default:
				d.problem(n.pos, path, "expected true or false, got %q", clip(s))
			}
		}
	case reflect.Float32, reflect.Float64:
		if s, ok := d.scalar(n, path, "a number"); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(s), t.Bits())
			if err != nil {
				d.problem(n.pos, path, "expected a number, got %q", clip(s))
				return
			}
			v.SetFloat(f)
		}
	default:
		// Only a new field of a type this decoder was never taught reaches
		// here; say so instead of ignoring the value.
		d.problem(n.pos, path, "values of Go type %s cannot be read from a file", t)
	}
}

// decodeNull handles a key written without a value ("file:" in YAML). For a
// section that is a pointer to a struct, presence is meaningful (it turns the
// section on), so it becomes an empty section; anything else stays zero.
func (d *decoder) decodeNull(n *node, v reflect.Value, path string) {
	t := v.Type()
	switch {
	case t == middlewareType:
		d.middleware(n, v, path)
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		p := reflect.New(t.Elem())
		d.decodeNull(n, p.Elem(), path)
		v.Set(p)
	}
}

// scalar returns a scalar's text with ${VAR} expanded, or reports why not.
func (d *decoder) scalar(n *node, path, want string) (string, bool) {
	if n.kind != kindScalar {
		d.problem(n.pos, path, "expected %s, got %s", want, n.describe())
		return "", false
	}
	if d.literal {
		return n.text, true
	}
	s, err := expandEnv(n.text, d.lookup)
	if err != nil {
		d.problem(n.pos, path, "%s", d.hideSecret(err))
		return "", false
	}
	return s, true
}

// hideSecret is the message of an expansion error in a value, without the
// parts of the value it quotes when the value is a secret.
func (d *decoder) hideSecret(err error) string {
	var unset *unsetVarError
	switch {
	case d.secret == "" || errors.As(err, &unset): // names a variable, not the value
		return err.Error()
	case d.secret == "userinfo":
		return RedactURLs(err.Error())
	default:
		return "the value holds a ${ that is not a ${NAME} or ${NAME:-default} reference (the value is a secret and is not shown; write $$ for a $)"
	}
}

func (d *decoder) integer(n *node, v reflect.Value, path string) {
	s, ok := d.scalar(n, path, "an integer")
	if !ok {
		return
	}
	i, err := parseInt(strings.TrimSpace(s), v.Type().Bits())
	switch {
	case errors.Is(err, strconv.ErrRange):
		d.problem(n.pos, path, "integer %s is out of range", clip(s))
	case err != nil:
		d.problem(n.pos, path, "expected an integer, got %q", clip(s))
	default:
		v.SetInt(i)
	}
}

// parseInt reads decimal, or hex/octal/binary with a 0x/0o/0b prefix; a
// leading zero alone does not mean octal, as it would in Go source.
func parseInt(s string, bits int) (int64, error) {
	digits := strings.TrimLeft(s, "+-")
	if len(digits) > 1 && digits[0] == '0' && strings.ContainsRune("xXoObB", rune(digits[1])) {
		return strconv.ParseInt(s, 0, bits)
	}
	return strconv.ParseInt(s, 10, bits)
}

func (d *decoder) duration(n *node, v reflect.Value, path string) {
	const like = "a duration (like 3s, 500ms, 1m30s)"
	s, ok := d.scalar(n, path, like)
	if !ok {
		return
	}
	if strings.HasPrefix(strings.TrimSpace(s), "-") {
		d.problem(n.pos, path, "a duration cannot be negative, got %q", clip(s))
		return
	}
	dur, err := ParseDuration(s)
	if err != nil {
		d.problem(n.pos, path, "expected %s, got %q", like, clip(s))
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) byteSize(n *node, v reflect.Value, path string) {
	const like = "a size (like 512, 64KiB, 10MB)"
	s, ok := d.scalar(n, path, like)
	if !ok {
		return
	}
	size, err := ParseByteSize(s)
	if err != nil {
		d.problem(n.pos, path, "expected %s, got %q", like, clip(s))
		return
	}
	v.SetInt(int64(size))
}

// commaList reads "web, websecure" as a list of two strings.
func (d *decoder) commaList(n *node, v reflect.Value, path string) {
	var parts []string
	for _, s := range strings.Split(n.text, ",") {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	out := reflect.MakeSlice(v.Type(), len(parts), len(parts))
	for i, s := range parts {
		d.src.Set(path+"["+strconv.Itoa(i)+"]", n.pos)
		out.Index(i).SetString(s)
	}
	v.Set(out)
}

func (d *decoder) list(n *node, v reflect.Value, path string) {
	if n.kind != kindList {
		d.problem(n.pos, path, "expected a list, got %s", n.describe())
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.items), len(n.items))
	for i, it := range n.items {
		p := path + "[" + strconv.Itoa(i) + "]"
		d.src.Set(p, it.pos)
		d.decode(it, out.Index(i), p)
	}
	v.Set(out)
}

func (d *decoder) mapping(n *node, v reflect.Value, path string) {
	if n.kind != kindMap {
		d.problem(n.pos, path, "expected a mapping of names, got %s", n.describe())
		return
	}
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.problem(n.pos, path, "values of Go type %s cannot be read from a file", t)
		return
	}
	out := reflect.MakeMapWithSize(t, len(n.entries))
	for _, e := range n.entries {
		p := dotted(path, e.key)
		if d.duplicate(e, p) {
			continue
		}
		if e.key == "" {
			d.problem(e.pos, path, "a name cannot be empty")
			continue
		}
		d.src.Set(p, e.pos)
		elem := reflect.New(t.Elem()).Elem()
		d.decode(e.val, elem, p)
		out.SetMapIndex(reflect.ValueOf(e.key).Convert(t.Key()), elem)
	}
	v.Set(out)
}

func (d *decoder) duplicate(e entry, path string) bool {
	if e.dupOf == nil {
		return false
	}
	d.problem(e.pos, path, "%q is defined twice (first at line %d)", e.key, e.dupOf.Line)
	return true
}

func (d *decoder) structure(n *node, v reflect.Value, path string) {
	if n.kind != kindMap {
		d.problem(n.pos, path, "expected a mapping, got %s", n.describe())
		return
	}
	info := structOf(v.Type())
	for _, e := range n.entries {
		p := dotted(path, e.key)
		if d.duplicate(e, p) {
			continue
		}
		f, ok := info.byKey[e.key]
		if !ok && d.literal {
			for _, k := range info.keys {
				if strings.EqualFold(k, e.key) {
					f, ok = info.byKey[k], true
					p = dotted(path, k)
					break
				}
			}
		}
		if !ok {
			if base, isFile := strings.CutSuffix(e.key, "File"); isFile {
				if bf, ok := info.byKey[base]; ok && bf.secret && bf.typ.Kind() == reflect.String {
					d.fromFile(n, e, v.Field(bf.index), dotted(path, base), p)
					continue
				}
			}
			d.problem(e.pos, p, "unknown key %q%s", e.key, didYouMean(e.key, info.keys))
			continue
		}
		d.src.Set(p, e.pos)
		outer := d.secret
		if f.secretTag != "" {
			d.secret = f.secretTag
		}
		d.decode(e.val, v.Field(f.index), p)
		d.secret = outer
	}
}

// maxSecretFile bounds what a secret file may hold: a token or key is small,
// and a wrong path (a log, /dev/zero) must not fill memory.
const maxSecretFile = 64 << 10

// fromFile reads the value of a string field from the file named by its
// "…File" key: secrets stay out of the config file (Docker and Kubernetes
// mount them as files). Relative paths are relative to the working directory,
// like every other path in the file.
func (d *decoder) fromFile(parent *node, e entry, field reflect.Value, fieldPath, filePath string) {
	d.src.Set(filePath, e.pos)
	d.src.Set(fieldPath, e.pos)
	base := strings.TrimSuffix(e.key, "File")
	if parent.get(base) != nil {
		d.problem(e.pos, filePath, "set either %q or %q, not both", base, e.key)
		return
	}
	name, ok := d.scalar(e.val, filePath, "a file path")
	if !ok {
		return
	}
	if name == "" {
		d.problem(e.val.pos, filePath, "the file path is empty")
		return
	}
	data, err := d.readFile(name)
	if err != nil {
		d.problem(e.val.pos, filePath, "%v", err)
		return
	}
	field.SetString(strings.TrimRight(string(data), "\r\n"))
}

// readSecretFile reads at most maxSecretFile bytes of a file.
func readSecretFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, fsCause(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, fsCause(err))
	}
	if len(data) > maxSecretFile {
		return nil, fmt.Errorf("%s is larger than %d bytes; a secret file holds only the secret", name, maxSecretFile)
	}
	return data, nil
}

func (d *decoder) middleware(n *node, v reflect.Value, path string) {
	kinds := middlewareKindNames()
	at := d.src.Pos(path)
	if at.File == "" {
		at = n.pos
	}
	switch {
	case n.kind == kindNull || (n.kind == kindMap && len(n.entries) == 0):
		d.problem(at, path, "a middleware needs one key naming its kind (one of %s)", strings.Join(kinds, ", "))
		return
	case n.kind != kindMap:
		d.problem(n.pos, path, "expected a mapping with one middleware kind, got %s", n.describe())
		return
	case len(n.entries) > 1:
		keys := make([]string, len(n.entries))
		for i, e := range n.entries {
			keys[i] = strconv.Quote(e.key)
		}
		d.problem(at, path, "a middleware has exactly one kind, got %d: %s", len(keys), strings.Join(keys, ", "))
		return
	}
	e := n.entries[0]
	p := dotted(path, e.key)
	typ, ok := MiddlewareKinds[e.key]
	if !ok && plannedMiddlewareKinds[e.key] {
		d.problem(e.pos, p, "middleware kind %q is not supported by this version of usher", e.key)
		return
	}
	if !ok {
		hint := didYouMean(e.key, kinds)
		if hint == "" {
			hint = "; known kinds: " + strings.Join(kinds, ", ")
		}
		d.problem(e.pos, p, "unknown middleware kind %q%s", e.key, hint)
		return
	}
	d.src.Set(p, e.pos)
	spec := reflect.New(typ)
	d.decode(e.val, spec.Elem(), p)
	v.Set(reflect.ValueOf(Middleware{Kind: e.key, Spec: spec.Interface()}))
}

func middlewareKindNames() []string {
	names := make([]string, 0, len(MiddlewareKinds))
	for k := range MiddlewareKinds {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// fieldInfo describes one field of a config struct, from its tags.
type fieldInfo struct {
	key       string
	index     int
	typ       reflect.Type
	omitempty bool
	secret    bool   // secret:"true": a string that Redacted hides, readable from a "…File" key
	secretTag string // the secret tag as written: "true", "values", "userinfo" or ""
	doc       string
}

type structInfo struct {
	fields []fieldInfo
	byKey  map[string]fieldInfo
	keys   []string // in field order, for suggestions
}

var structCache sync.Map // reflect.Type → *structInfo

func structOf(t reflect.Type) *structInfo {
	if si, ok := structCache.Load(t); ok {
		return si.(*structInfo)
	}
	si := &structInfo{byKey: map[string]fieldInfo{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if !sf.IsExported() || tag == "-" || tag == "" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		f := fieldInfo{
			key:       name,
			index:     i,
			typ:       sf.Type,
			omitempty: slices.Contains(strings.Split(opts, ","), "omitempty"),
			secret:    sf.Tag.Get("secret") == "true",
			secretTag: sf.Tag.Get("secret"),
			doc:       sf.Tag.Get("doc"),
		}
		si.fields = append(si.fields, f)
		si.byKey[name] = f
		si.keys = append(si.keys, name)
	}
	actual, _ := structCache.LoadOrStore(t, si)
	return actual.(*structInfo)
}

// designMiddlewareKinds are the middleware kinds of the configuration model
// (the design's CONFIG.md). Those that MiddlewareKinds lacks are refused as
// kinds this version does not have yet, not as typos.
var designMiddlewareKinds = []string{
	"stripPrefix", "addPrefix", "replacePath", "redirectScheme", "redirectRegex",
	"headers", "buffering", "chain", "compress", "forwardAuth",
	"rateLimit", "inFlightReq", "basicAuth", "digestAuth", "jwt", "apiKey", "oidc", "portal",
	"ipAllowList", "ipDenyList", "cors", "csrf", "cache", "circuitBreaker", "retry", "waf", "errors",
}

// plannedMiddlewareKinds are the kinds of designMiddlewareKinds this version lacks.
var plannedMiddlewareKinds = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range designMiddlewareKinds {
		if _, ok := MiddlewareKinds[k]; !ok {
			m[k] = true
		}
	}
	return m
}()
