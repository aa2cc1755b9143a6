package config

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatal("schema is not valid JSON")
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSchemaShape(t *testing.T) {
	s := loadSchema(t)
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", s["$schema"])
	}
	defs := s["$defs"].(map[string]any)
	router := defs["Router"].(map[string]any)
	rule := router["properties"].(map[string]any)["rule"].(map[string]any)
	if !strings.HasPrefix(rule["description"].(string), "matching rule") {
		t.Errorf("rule description = %v", rule["description"])
	}
	if router["additionalProperties"] != false {
		t.Error("unknown router keys are allowed")
	}
	if req := router["required"].([]any); !slices.Equal(req, []any{"rule", "service"}) {
		t.Errorf("router required = %v", req)
	}
	mw := defs["Middleware"].(map[string]any)["oneOf"].([]any)
	if len(mw) != len(MiddlewareKinds) {
		t.Errorf("middleware has %d alternatives, want %d", len(mw), len(MiddlewareKinds))
	}
	admin := defs["Admin"].(map[string]any)["properties"].(map[string]any)
	if _, ok := admin["tokenFile"]; !ok {
		t.Error("admin has no tokenFile")
	}
	if s["additionalProperties"] != false || s["properties"].(map[string]any)["http"] == nil {
		t.Error("root schema is open or lacks http")
	}
}

func TestSchemaAcceptsAndRefuses(t *testing.T) {
	s := loadSchema(t)
	tests := []struct {
		name, yaml string
		ok         bool
	}{
		{"full example", mustRead(t, "testdata/full.yaml"), true},
		{"env values", "entrypoints: { web: { address: ':80', idleTimeout: '${IDLE:-3s}', http3: '${H3}' } }\n", true},
		{"http3 options", "entrypoints: { s: { address: ':443', tls: {}, http3: { zeroRTT: true } } }\n", true},
		{"http3 unknown option", "entrypoints: { s: { address: ':443', tls: {}, http3: { zeroRtt: true } } }\n", false},
		{"token file", "admin: { tokenFile: /run/secrets/t }\n", true},
		{"unknown key", "http: { routers: { a: { rule: x, service: s, rulee: y } } }\n", false},
		{"missing required", "http: { routers: { a: { rule: x } } }\n", false},
		{"bad duration", "entrypoints: { web: { address: ':80', idleTimeout: 3 } }\n", false},
		{"size as number", "entrypoints: { web: { address: ':80', maxHeaderBytes: 4096 } }\n", true},
		{"bad size", "entrypoints: { web: { address: ':80', maxHeaderBytes: 4 parsecs } }\n", false},
		{"two middleware kinds", "http: { middlewares: { m: { chain: { middlewares: [a] }, addPrefix: { prefix: /a } } } }\n", false},
		{"unknown middleware kind", "http: { middlewares: { m: { rateLimit: {} } } }\n", false},
		{"wrong type", "http: { services: { s: { loadBalancer: { servers: [ { url: 'http://a', weight: heavy } ] } } } }\n", false},
	}
	for _, tc := range tests {
		var doc any
		if err := yaml.Unmarshal([]byte(tc.yaml), &doc); err != nil {
			t.Fatal(err)
		}
		errs := checkSchema(s, s, doc, "")
		if (len(errs) == 0) != tc.ok {
			t.Errorf("%s: schema errors %v, want ok=%v", tc.name, errs, tc.ok)
		}
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkSchema is a JSON Schema checker for the keywords Schema emits; it
// proves that the schema describes the files the loader reads.
func checkSchema(root, s map[string]any, v any, path string) []string {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/$defs/")
		return checkSchema(root, root["$defs"].(map[string]any)[name].(map[string]any), v, path)
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	if alts, ok := s["anyOf"].([]any); ok {
		n := 0
		for _, a := range alts {
			if len(checkSchema(root, a.(map[string]any), v, path)) == 0 {
				n++
			}
		}
		if n == 0 {
			fail("matches no anyOf")
		}
	}
	if alts, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, a := range alts {
			if len(checkSchema(root, a.(map[string]any), v, path)) == 0 {
				n++
			}
		}
		if n != 1 {
			fail("matches %d of oneOf", n)
		}
	}
	if typ, ok := s["type"].(string); ok && !hasType(typ, v) {
		fail("%v is not %s", v, typ)
		return errs
	}
	if p, ok := s["pattern"].(string); ok {
		if str, isStr := v.(string); isStr && !regexp.MustCompile(p).MatchString(str) {
			fail("%q does not match %s", str, p)
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := s["properties"].(map[string]any)
		for k, val := range obj {
			switch sub := props[k]; {
			case sub != nil:
				errs = append(errs, checkSchema(root, sub.(map[string]any), val, path+"."+k)...)
			case s["additionalProperties"] == false:
				fail("unknown key %q", k)
			default:
				if ap, ok := s["additionalProperties"].(map[string]any); ok {
					errs = append(errs, checkSchema(root, ap, val, path+"."+k)...)
				}
			}
		}
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := obj[r.(string)]; !ok {
					fail("missing %q", r)
				}
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := s["items"].(map[string]any); ok {
			for i, it := range arr {
				errs = append(errs, checkSchema(root, items, it, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return errs
}

func hasType(typ string, v any) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "integer":
		switch n := v.(type) {
		case int:
			return true
		case float64:
			return n == math.Trunc(n)
		}
		return false
	case "number":
		switch v.(type) {
		case int, float64:
			return true
		}
		return false
	}
	return false
}
