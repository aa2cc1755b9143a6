package config

import "reflect"

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
	"chain":          reflect.TypeFor[Chain](),
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

	STSSeconds              int    `json:"stsSeconds,omitempty" doc:"Strict-Transport-Security max-age; 0 = no header"`
	STSIncludeSubdomains    bool   `json:"stsIncludeSubdomains,omitempty" doc:"add includeSubDomains"`
	STSPreload              bool   `json:"stsPreload,omitempty" doc:"add preload"`
	ForceSTSHeader          bool   `json:"forceSTSHeader,omitempty" doc:"send HSTS on plain HTTP too"`
	ContentTypeNosniff      bool   `json:"contentTypeNosniff,omitempty" doc:"X-Content-Type-Options: nosniff"`
	FrameDeny               bool   `json:"frameDeny,omitempty" doc:"X-Frame-Options: DENY"`
	CustomFrameOptionsValue string `json:"customFrameOptionsValue,omitempty" doc:"X-Frame-Options value, e.g. SAMEORIGIN"`
	ReferrerPolicy          string `json:"referrerPolicy,omitempty" doc:"Referrer-Policy value"`
	ContentSecurityPolicy   string `json:"contentSecurityPolicy,omitempty" doc:"Content-Security-Policy value"`
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
