package config

// CSRF refuses cross-origin unsafe requests (any method but GET, HEAD and
// OPTIONS) from browsers, with 403, by Sec-Fetch-Site and Origin against the
// request's Host: the algorithm of Go's net/http.CrossOriginProtection.
type CSRF struct {
	TrustedOrigins []string `json:"trustedOrigins,omitempty" doc:"origins (scheme://host[:port]) whose cross-origin requests are let through"`
	BypassPaths    []string `json:"bypassPaths,omitempty" doc:"patterns of Go's http.ServeMux (/webhooks/, /hook, POST /api/{id}) of requests never checked"`
}
