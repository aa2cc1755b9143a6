// Package middleware is the registry of middleware kinds: for each key of
// config.MiddlewareKinds, the constructor that builds that middleware around the
// next handler. Each middleware lives in a package of its own below this one and
// exports New(ctx, next, cfg, name) with cfg a pointer to its config type.
//
// The chain kind is not here: it names other middlewares, and the runtime expands
// it into their constructors when it builds a router's chain.
package middleware

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/addprefix"
	"github.com/usher-lb/usher/internal/middleware/apikey"
	"github.com/usher-lb/usher/internal/middleware/basicauth"
	"github.com/usher-lb/usher/internal/middleware/buffering"
	"github.com/usher-lb/usher/internal/middleware/cache"
	"github.com/usher-lb/usher/internal/middleware/circuitbreaker"
	"github.com/usher-lb/usher/internal/middleware/compress"
	"github.com/usher-lb/usher/internal/middleware/cors"
	"github.com/usher-lb/usher/internal/middleware/csrf"
	"github.com/usher-lb/usher/internal/middleware/digestauth"
	"github.com/usher-lb/usher/internal/middleware/errorpages"
	"github.com/usher-lb/usher/internal/middleware/forwardauth"
	"github.com/usher-lb/usher/internal/middleware/headers"
	"github.com/usher-lb/usher/internal/middleware/inflightreq"
	"github.com/usher-lb/usher/internal/middleware/ipfilter"
	"github.com/usher-lb/usher/internal/middleware/jwt"
	"github.com/usher-lb/usher/internal/middleware/oidc"
	"github.com/usher-lb/usher/internal/middleware/passtlsclientcert"
	"github.com/usher-lb/usher/internal/middleware/portal"
	"github.com/usher-lb/usher/internal/middleware/ratelimit"
	"github.com/usher-lb/usher/internal/middleware/redirectregex"
	"github.com/usher-lb/usher/internal/middleware/redirectscheme"
	"github.com/usher-lb/usher/internal/middleware/replacepath"
	"github.com/usher-lb/usher/internal/middleware/retry"
	"github.com/usher-lb/usher/internal/middleware/stripprefix"
	"github.com/usher-lb/usher/internal/middleware/waf"
)

// Constructor builds a middleware around next from its config spec (a pointer to
// the kind's config type, as config.Middleware.Spec holds it). name is the
// middleware's name in the configuration. It validates the spec and returns an
// error that starts with the kind ("redirectRegex: invalid regex ..."); the
// caller adds where the middleware was declared. A spec of the wrong type, a nil
// spec or a nil next is an error too.
type Constructor func(ctx context.Context, next http.Handler, spec any, name string) (http.Handler, error)

// registry is the table of kinds; it is filled once, at package initialisation,
// and only read afterwards.
var registry = map[string]Constructor{}

func init() {
	register("stripPrefix", stripprefix.New)
	register("addPrefix", addprefix.New)
	register("replacePath", replacepath.New)
	register("redirectScheme", redirectscheme.New)
	register("redirectRegex", redirectregex.New)
	register("headers", headers.New)
	register("buffering", buffering.New)
	register("forwardAuth", forwardauth.New)
	register("compress", compress.New)
	register("cache", cache.New)
	register("ipAllowList", ipfilter.NewAllow)
	register("ipDenyList", ipfilter.NewDeny)
	register("cors", cors.New)
	register("csrf", csrf.New)
	register("rateLimit", ratelimit.New)
	register("inFlightReq", inflightreq.New)
	register("errors", errorpages.New)
	register("circuitBreaker", circuitbreaker.New)
	register("retry", retry.New)
	register("jwt", jwt.New)
	register("apiKey", apikey.New)
	register("waf", waf.New)
	register("basicAuth", basicauth.New)
	register("digestAuth", digestauth.New)
	register("portal", portal.New)
	register("oidc", oidc.New)
	register("passTLSClientCert", passtlsclientcert.New)
}

// register adds the constructor of kind. It panics, at start-up, on a kind that
// config.MiddlewareKinds does not have, on a config type that is not the one
// config.MiddlewareKinds gives for kind, and on a kind registered twice.
func register[T any](kind string, f func(context.Context, http.Handler, *T, string) (http.Handler, error)) {
	if want, ok := config.MiddlewareKinds[kind]; !ok || want != reflect.TypeFor[T]() {
		panic(fmt.Sprintf("middleware: %s is registered with %v, config.MiddlewareKinds has %v", kind, reflect.TypeFor[T](), want))
	}
	if _, dup := registry[kind]; dup {
		panic("middleware: " + kind + " is registered twice")
	}
	registry[kind] = func(ctx context.Context, next http.Handler, spec any, name string) (http.Handler, error) {
		cfg, ok := spec.(*T)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s: config is %T, want %T", kind, spec, cfg)
		case cfg == nil:
			return nil, fmt.Errorf("%s: no config", kind)
		case next == nil:
			return nil, fmt.Errorf("%s: no next handler", kind)
		}
		return f(ctx, next, cfg, name)
	}
}

// Lookup returns the constructor of kind, a key of config.MiddlewareKinds such
// as "stripPrefix". It reports false for an unknown kind and for "chain".
func Lookup(kind string) (Constructor, bool) {
	c, ok := registry[kind]
	return c, ok
}

// Kinds returns the registered kinds, sorted. The slice is the caller's.
func Kinds() []string {
	ks := make([]string, 0, len(registry))
	for k := range registry {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
