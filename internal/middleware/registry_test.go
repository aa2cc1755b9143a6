package middleware

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
)

// valid is a working config of each registered kind.
var valid = map[string]any{
	"stripPrefix":    &config.StripPrefix{Prefixes: []string{"/api"}},
	"addPrefix":      &config.AddPrefix{Prefix: "/v1"},
	"replacePath":    &config.ReplacePath{Path: "/x"},
	"redirectScheme": &config.RedirectScheme{Scheme: "https"},
	"redirectRegex":  &config.RedirectRegex{Regex: "^http://a/(.*)", Replacement: "https://b/$1"},
	"headers":        &config.Headers{FrameDeny: true},
	"buffering":      &config.Buffering{MaxRequestBodyBytes: 1 << 20},
	"forwardAuth":    &config.ForwardAuth{Address: "http://127.0.0.1:9/auth"},
	"basicAuth":      &config.BasicAuth{Users: []string{"alice:$apr1$r31.....$ARC3pREO82RIm0aQ2zszC0"}},
	"digestAuth":     &config.DigestAuth{Users: []string{"alice:usher:939e7578ed9e3c518a452acee763bce9"}},
	"compress":       &config.Compress{Encodings: []string{"gzip"}},
	"cache":          &config.Cache{Store: "memory"},
	"ipAllowList":    &config.IPAllowList{SourceRange: []string{"192.0.2.0/24"}},
	"ipDenyList":     &config.IPDenyList{SourceRange: []string{"192.0.2.0/24"}},
	"cors":           &config.CORS{AllowOrigins: []string{"https://app.example.com"}},
	"csrf":           &config.CSRF{},
	"rateLimit":      &config.RateLimit{Average: 10},
	"inFlightReq":    &config.InFlightReq{Amount: 1},
	"errors":         &config.Errors{Status: []string{"500-599"}, Service: "pages"},
	"circuitBreaker": &config.CircuitBreaker{Expression: "NetworkErrorRatio() > 0.5"},
	"retry":          &config.RetryMiddleware{Attempts: 4},
	"jwt":            &config.JWT{Secret: "0123456789abcdef0123456789abcdef"},
	"apiKey":         &config.APIKey{Keys: []config.APIKeyEntry{{ID: "a", SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}}},
	"waf":            &config.WAF{},
	"portal":         &config.Portal{UsersFile: "testdata/portal.users"},
	"oidc":           &config.OIDC{Issuer: "http://127.0.0.1:9/", ClientID: "shop"},

	"passTLSClientCert": &config.PassTLSClientCert{PEM: true},
}

func TestEveryKindIsRegistered(t *testing.T) {
	for kind := range config.MiddlewareKinds {
		_, ok := Lookup(kind)
		if kind == "chain" {
			if ok {
				t.Error("chain is registered; the runtime expands it")
			}
			continue
		}
		if !ok {
			t.Errorf("kind %s of config.MiddlewareKinds has no constructor", kind)
		}
	}
	kinds := Kinds()
	if !slices.IsSorted(kinds) {
		t.Errorf("Kinds() not sorted: %q", kinds)
	}
	if len(kinds) != len(config.MiddlewareKinds)-1 {
		t.Errorf("Kinds() = %q, want every kind of config.MiddlewareKinds but chain", kinds)
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("unknown kind found")
	}
}

func TestConstructors(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, kind := range Kinds() {
		t.Run(kind, func(t *testing.T) {
			spec, ok := valid[kind]
			if !ok {
				t.Fatalf("no valid config for %s in this test", kind)
			}
			if reflect.TypeOf(spec).Elem() != config.MiddlewareKinds[kind] {
				t.Fatalf("test config is %T, config.MiddlewareKinds has %v", spec, config.MiddlewareKinds[kind])
			}
			c, _ := Lookup(kind)
			// Services of the snapshot, for the middlewares that use one (errors).
			ctx := env.With(t.Context(), env.New(env.Config{Service: func(string) (http.Handler, bool) { return next, true }}, nil))
			h, err := c(ctx, next, spec, "m-"+kind)
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://a/api/x", nil))
			if w.Code == 0 {
				t.Error("no response")
			}

			// A spec of another type, a nil spec of the right type, and no next.
			wrong := &struct{ X int }{}
			if _, err := c(t.Context(), next, wrong, "m"); err == nil || !strings.HasPrefix(err.Error(), kind+": config is") {
				t.Errorf("wrong spec type: %v", err)
			}
			if _, err := c(t.Context(), next, nil, "m"); err == nil {
				t.Error("nil spec accepted")
			}
			nilSpec := reflect.Zero(reflect.TypeOf(spec)).Interface()
			if _, err := c(t.Context(), next, nilSpec, "m"); err == nil || err.Error() != kind+": no config" {
				t.Errorf("typed nil spec: %v", err)
			}
			if _, err := c(t.Context(), nil, spec, "m"); err == nil || err.Error() != kind+": no next handler" {
				t.Errorf("nil next: %v", err)
			}
		})
	}
}

func TestConstructorErrorNamesKind(t *testing.T) {
	c, _ := Lookup("redirectRegex")
	_, err := c(t.Context(), http.NotFoundHandler(), &config.RedirectRegex{Regex: "(", Replacement: "x"}, "m")
	if err == nil || !strings.HasPrefix(err.Error(), `redirectRegex: invalid regex "(": `) {
		t.Errorf("error %v", err)
	}
}
