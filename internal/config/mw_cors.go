package config

// CORS answers browsers' cross-origin checks at the edge: preflights are
// answered by usher without reaching the server, and responses to allowed
// origins carry the Access-Control-* headers (the server's own are replaced).
type CORS struct {
	AllowOrigins     []string `json:"allowOrigins" doc:"origins allowed: exact (https://app.example.com), patterns of subdomains (*.example.com, https://*.example.com), or \"*\" for any; at least one"`
	AllowMethods     []string `json:"allowMethods,omitempty" doc:"methods a preflight may ask for, or \"*\" for any; default [GET, HEAD, POST]"`
	AllowHeaders     []string `json:"allowHeaders,omitempty" doc:"request headers a preflight may ask for, without regard to case, or \"*\" for any; default none"`
	ExposeHeaders    []string `json:"exposeHeaders,omitempty" doc:"response headers scripts may read besides the safelisted ones (Access-Control-Expose-Headers); default none"`
	AllowCredentials bool     `json:"allowCredentials,omitempty" doc:"let scripts send cookies and read the answers (Access-Control-Allow-Credentials: true); refused with allowOrigins \"*\""`
	MaxAge           int      `json:"maxAge,omitempty" doc:"seconds a browser may keep a preflight's answer (Access-Control-Max-Age); default 0 = no header (browsers keep it 5s)"`
}
