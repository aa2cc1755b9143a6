package config

import (
	"reflect"
	"time"
)

// Middleware is exactly one kind of middleware: the file has one key under the
// middleware's name, and that key picks the type its value decodes into.
// Kind is the key ("stripPrefix"); Spec is a pointer to the kind's type (*StripPrefix).
type Middleware struct {
	Kind string
	Spec any
}

// MiddlewareKinds is the table of middleware kinds: key in the file → config type.
// A kind added here is decoded, validated and described by `usher schema`; the
// runtime's registry must have a constructor for each.
var MiddlewareKinds = map[string]reflect.Type{
	"stripPrefix":    reflect.TypeFor[StripPrefix](),
	"addPrefix":      reflect.TypeFor[AddPrefix](),
	"replacePath":    reflect.TypeFor[ReplacePath](),
	"redirectScheme": reflect.TypeFor[RedirectScheme](),
	"redirectRegex":  reflect.TypeFor[RedirectRegex](),
	"headers":        reflect.TypeFor[Headers](),
	"buffering":      reflect.TypeFor[Buffering](),
	"forwardAuth":    reflect.TypeFor[ForwardAuth](),
	"chain":          reflect.TypeFor[Chain](),
	"compress":       reflect.TypeFor[Compress](),
	"cache":          reflect.TypeFor[Cache](),
	"ipAllowList":    reflect.TypeFor[IPAllowList](),
	"ipDenyList":     reflect.TypeFor[IPDenyList](),
	"cors":           reflect.TypeFor[CORS](),
	"csrf":           reflect.TypeFor[CSRF](),
	"rateLimit":      reflect.TypeFor[RateLimit](),
	"inFlightReq":    reflect.TypeFor[InFlightReq](),
	"errors":         reflect.TypeFor[Errors](),
	"circuitBreaker": reflect.TypeFor[CircuitBreaker](),
	"retry":          reflect.TypeFor[RetryMiddleware](),
	"jwt":            reflect.TypeFor[JWT](),
	"apiKey":         reflect.TypeFor[APIKey](),
	"waf":            reflect.TypeFor[WAF](),
	"basicAuth":      reflect.TypeFor[BasicAuth](),
	"digestAuth":     reflect.TypeFor[DigestAuth](),
	"portal":         reflect.TypeFor[Portal](),
	"oidc":           reflect.TypeFor[OIDC](),

	"passTLSClientCert": reflect.TypeFor[PassTLSClientCert](),
}

// StripPrefix removes a path prefix before forwarding.
type StripPrefix struct {
	Prefixes []string `json:"prefixes" doc:"prefixes removed (the first that matches); X-Forwarded-Prefix tells the server"`
}

// AddPrefix adds a path prefix before forwarding.
type AddPrefix struct {
	Prefix string `json:"prefix" doc:"prefix added, starting with /"`
}

// ReplacePath replaces the whole path before forwarding.
type ReplacePath struct {
	Path string `json:"path" doc:"new path; the old one goes in X-Replaced-Path"`
}

// RedirectScheme redirects to another scheme.
type RedirectScheme struct {
	Scheme    string `json:"scheme" doc:"http|https"`
	Port      string `json:"port,omitempty" doc:"port of the new URL; default the scheme's"`
	Permanent bool   `json:"permanent,omitempty" doc:"308 instead of 307"`
}

// RedirectRegex redirects when the URL matches a regexp.
type RedirectRegex struct {
	Regex       string `json:"regex" doc:"regexp on the full URL (scheme://host/path?query)"`
	Replacement string `json:"replacement" doc:"new URL, with $1 etc."`
	Permanent   bool   `json:"permanent,omitempty" doc:"308 instead of 307"`
}

// Headers sets and removes headers and adds security headers.
type Headers struct {
	CustomRequestHeaders  map[string]string `json:"customRequestHeaders,omitempty" secret:"values" doc:"set on the request; an empty value removes the header (values are secret: they may carry tokens)"`
	CustomResponseHeaders map[string]string `json:"customResponseHeaders,omitempty" secret:"values" doc:"set on the response; an empty value removes the header (values are secret: they may carry tokens)"`

	STSSeconds                int    `json:"stsSeconds,omitempty" doc:"Strict-Transport-Security max-age; 0 = no header"`
	STSIncludeSubdomains      bool   `json:"stsIncludeSubdomains,omitempty" doc:"add includeSubDomains"`
	STSPreload                bool   `json:"stsPreload,omitempty" doc:"add preload"`
	ForceSTSHeader            bool   `json:"forceSTSHeader,omitempty" doc:"send HSTS on plain HTTP too"`
	ContentTypeNosniff        bool   `json:"contentTypeNosniff,omitempty" doc:"X-Content-Type-Options: nosniff"`
	FrameDeny                 bool   `json:"frameDeny,omitempty" doc:"X-Frame-Options: DENY"`
	CustomFrameOptionsValue   string `json:"customFrameOptionsValue,omitempty" doc:"X-Frame-Options value, e.g. SAMEORIGIN"`
	ReferrerPolicy            string `json:"referrerPolicy,omitempty" doc:"Referrer-Policy value"`
	ContentSecurityPolicy     string `json:"contentSecurityPolicy,omitempty" doc:"Content-Security-Policy value"`
	PermissionsPolicy         string `json:"permissionsPolicy,omitempty" doc:"Permissions-Policy value, e.g. camera=(), geolocation=(self)"`
	CrossOriginOpenerPolicy   string `json:"crossOriginOpenerPolicy,omitempty" doc:"Cross-Origin-Opener-Policy: same-origin, same-origin-allow-popups, noopener-allow-popups or unsafe-none"`
	CrossOriginEmbedderPolicy string `json:"crossOriginEmbedderPolicy,omitempty" doc:"Cross-Origin-Embedder-Policy: require-corp, credentialless or unsafe-none"`
	CrossOriginResourcePolicy string `json:"crossOriginResourcePolicy,omitempty" doc:"Cross-Origin-Resource-Policy: same-origin, same-site or cross-origin"`
}

// Buffering reads the whole request body before forwarding, up to a limit.
type Buffering struct {
	MaxRequestBodyBytes ByteSize `json:"maxRequestBodyBytes,omitempty" doc:"larger bodies get 413; default 0 = no limit"`
	MemRequestBodyBytes ByteSize `json:"memRequestBodyBytes,omitempty" doc:"bodies above this spill to a temporary file; default 1MiB"`
}

// Chain applies other middlewares in order.
type Chain struct {
	Middlewares []string `json:"middlewares" doc:"middleware names, in order"`
}

// ForwardAuth asks an authentication server whether each request may pass
// (Traefik's forwardAuth): a 2xx lets it through, any other answer goes back
// to the client as the auth server sent it, and an auth server that fails or
// is slow fails closed (503).
type ForwardAuth struct {
	Address                  string            `json:"address" secret:"userinfo" doc:"URL of the auth server, http:// or https://, a query allowed; required"`
	TrustForwardHeader       bool              `json:"trustForwardHeader,omitempty" doc:"send the X-Forwarded-* the entrypoint kept from a trusted proxy; false: this hop's own"`
	AuthRequestHeaders       []string          `json:"authRequestHeaders,omitempty" doc:"request headers sent to the auth server; default all but hop-by-hop, conditional and range ones"`
	AuthResponseHeaders      []string          `json:"authResponseHeaders,omitempty" doc:"headers of the auth server's 2xx set on the request to the server; the client's own copies are removed"`
	AuthResponseHeadersRegex string            `json:"authResponseHeadersRegex,omitempty" doc:"regexp on names: the same for every header it matches"`
	AddAuthCookiesToResponse []string          `json:"addAuthCookiesToResponse,omitempty" doc:"names of cookies set by the auth server's 2xx that are added to the response, replacing the server's of the same name"`
	HeaderField              string            `json:"headerField,omitempty" doc:"header of the auth server's 2xx naming the user (access log, later middlewares)"`
	PreserveRequestMethod    bool              `json:"preserveRequestMethod,omitempty" doc:"ask the auth server with the request's method; default GET"`
	MaxBodySize              ByteSize          `json:"maxBodySize,omitempty" doc:"request bodies up to this size are sent to the auth server too, larger ones get 413; default 0 = no body sent"`
	Timeout                  Duration          `json:"timeout,omitempty" doc:"the whole exchange with the auth server; over it the client gets 503; default 5s"`
	MaxConns                 int               `json:"maxConns,omitempty" doc:"connections to the auth server at once, pooled; requests over it wait, within timeout; default 64"`
	TLS                      *ClientTLS        `json:"tls,omitempty" doc:"TLS to an https auth server"`
	Cache                    *ForwardAuthCache `json:"cache,omitempty" doc:"keep the auth server's answers for as long as its Cache-Control allows; off when absent"`
}

// ForwardAuthCache is forwardAuth's decision cache.
type ForwardAuthCache struct {
	MaxBytes ByteSize `json:"maxBytes,omitempty" doc:"memory the answers kept may take; default 16MiB"`
	MaxTTL   Duration `json:"maxTTL,omitempty" doc:"longest an answer is kept, whatever its max-age; default 5m"`
	Vary     []string `json:"vary,omitempty" doc:"headers sent to the auth server that make the key, with Authorization and Cookie always; default all of them but X-Request-Id and tracing ones"`
}

// The defaults of forwardAuth, shared with its middleware (which applies them
// to a config built in code).
const (
	ForwardAuthTimeout       = 5 * time.Second
	ForwardAuthMaxConns      = 64
	ForwardAuthCacheMaxBytes = 16 << 20
	ForwardAuthCacheMaxTTL   = 5 * time.Minute
)

func (f *ForwardAuth) applyDefaults() {
	orDur(&f.Timeout, ForwardAuthTimeout)
	orN(&f.MaxConns, ForwardAuthMaxConns)
	if c := f.Cache; c != nil {
		orSize(&c.MaxBytes, ForwardAuthCacheMaxBytes)
		orDur(&c.MaxTTL, ForwardAuthCacheMaxTTL)
	}
}

// Compress compresses responses with an encoding the client accepts.
type Compress struct {
	Encodings            []string       `json:"encodings,omitempty" doc:"encodings usher may use, in its order of preference among those the client accepts: zstd, br, gzip; default [zstd, br, gzip]"`
	MinResponseBodyBytes *ByteSize      `json:"minResponseBodyBytes,omitempty" doc:"bodies shorter than this go uncompressed; default 1024, at most 64KiB; 0 compresses every body"`
	IncludedContentTypes []string       `json:"includedContentTypes,omitempty" doc:"when set, only these media types are compressed (type/subtype, type/*, type/*+suffix), and the built-in exclusions do not apply; a response without Content-Type never is"`
	ExcludedContentTypes []string       `json:"excludedContentTypes,omitempty" doc:"media types never compressed, on top of the built-in exclusions (images but SVG, audio, video, WOFF fonts, compressed archives, application/octet-stream), which apply when includedContentTypes is not set"`
	Level                *CompressLevel `json:"level,omitempty" doc:"compression level of each encoding"`
}

// CompressLevel is the compression level of each encoding; 0 is the default.
type CompressLevel struct {
	Gzip int `json:"gzip,omitempty" doc:"1 (fastest) to 9 (smallest); default 5"`
	Br   int `json:"br,omitempty" doc:"1 to 9 (10 and 11 are for compressing ahead of time); default 3"`
	Zstd int `json:"zstd,omitempty" doc:"zstd's scale, 1 to 22, in four steps: 1-2 fastest, 3-5 default, 6-9 better, 10-22 best; default 3"`
}
