package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Schema returns a JSON Schema (draft 2020-12) of the configuration file,
// generated from the Go types: `doc` tags become descriptions, keys without
// omitempty are required, unknown keys are refused, and a middleware is one of
// single-key objects, one per MiddlewareKinds entry. Editors use it to check
// and complete usher.yaml; it is the same whether the file is YAML or TOML.
//
// Values that the loader expands from the environment (${VAR}) are accepted
// where a number, boolean, duration or size goes, since they are strings in
// the file.
func Schema() ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	root := g.object(reflect.TypeFor[Config]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["title"] = "usher configuration"
	g.defs["EnvRef"] = map[string]any{
		"type":        "string",
		"pattern":     `\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}`,
		"description": "${VAR} or ${VAR:-default}, expanded from the environment",
	}
	root["$defs"] = g.defs
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("config schema: %w", err)
	}
	return b, nil
}

type schemaGen struct {
	defs map[string]any
}

var envRef = map[string]any{"$ref": "#/$defs/EnvRef"}

func (g *schemaGen) ref(name string, build func() map[string]any) map[string]any {
	if _, ok := g.defs[name]; !ok {
		g.defs[name] = nil // placeholder: a type that refers to itself stops here
		g.defs[name] = build()
	}
	return map[string]any{"$ref": "#/$defs/" + name}
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t {
	case stringsType:
		return map[string]any{"anyOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "array", "items": map[string]any{"type": "string"}}}}
	case durationType:
		return g.ref("Duration", func() map[string]any {
			return map[string]any{
				"description": "a Go duration: 3s, 500ms, 1m30s",
				"anyOf": []any{
					map[string]any{"type": "string", "pattern": `^\s*(0|([0-9]+(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+)\s*$`},
					envRef,
				},
			}
		})
	case byteSizeType:
		return g.ref("ByteSize", func() map[string]any {
			return map[string]any{
				"description": "a size in bytes: 512, 64KiB, 10MB",
				"anyOf": []any{
					map[string]any{"type": "integer", "minimum": 0},
					map[string]any{"type": "string", "pattern": `^\s*[0-9]+\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$`},
					envRef,
				},
			}
		})
	case middlewareType:
		return g.ref("Middleware", g.middleware)
	case http3Type:
		return map[string]any{"anyOf": []any{map[string]any{"type": "boolean"}, envRef, g.ref("HTTP3", func() map[string]any { return g.object(t.Elem()) })}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Struct:
		return g.ref(t.Name(), func() map[string]any { return g.object(t) })
	case reflect.Map:
		return map[string]any{
			"type":                 "object",
			"propertyNames":        map[string]any{"minLength": 1},
			"additionalProperties": g.schema(t.Elem()),
		}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"anyOf": []any{map[string]any{"type": "boolean"}, envRef}}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"anyOf": []any{map[string]any{"type": "integer"}, envRef}}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"anyOf": []any{map[string]any{"type": "number"}, envRef}}
	default:
		return map[string]any{}
	}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	required := []string{}
	for _, f := range structOf(t).fields {
		s := g.schema(f.typ)
		if f.doc != "" {
			s = withDescription(s, f.doc)
		}
		props[f.key] = s
		if !f.omitempty {
			required = append(required, f.key)
		}
		if f.typ.Kind() == reflect.String && f.secret {
			// The loader also reads a string from "<key>File"; secrets are
			// where that is meant to be used.
			props[f.key+"File"] = map[string]any{
				"type":        "string",
				"description": fmt.Sprintf("file whose content (without a trailing newline) is %s; instead of %s", f.key, f.key),
			}
		}
	}
	out := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

func (g *schemaGen) middleware() map[string]any {
	var alts []any
	for _, kind := range middlewareKindNames() {
		alts = append(alts, map[string]any{
			"type":                 "object",
			"properties":           map[string]any{kind: g.schema(MiddlewareKinds[kind])},
			"required":             []string{kind},
			"additionalProperties": false,
		})
	}
	return map[string]any{
		"description": "exactly one key, naming the kind: " + strings.Join(middlewareKindNames(), ", "),
		"oneOf":       alts,
	}
}

// withDescription adds a description without changing a shared schema.
func withDescription(s map[string]any, doc string) map[string]any {
	out := make(map[string]any, len(s)+1)
	for k, v := range s {
		out[k] = v
	}
	out["description"] = doc
	return out
}
