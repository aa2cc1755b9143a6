// Package config is the model of usher's configuration file (see docs/CONFIG.md):
// the types, loading from YAML or TOML with positions, environment expansion,
// secrets read from files, and validation with precise errors.
//
// Field tags: `json` gives the key (camelCase, as in the file), `doc` a one-line
// description used by `usher schema`, `secret` what Redacted hides: "true" the
// whole string (it may also be read from a file by its "…File" key),
// "values" the values of a map whose keys may be shown (header names, whose
// values may carry tokens), "userinfo" the user:password@ of a URL.
// Defaults are applied by ApplyDefaults, never by the code that reads a field, so
// that one place tells what an absent key means.
//
// The life of a configuration: Load (or Parse, LoadDynamicDir, Merge) →
// ApplyDefaults → Validate → compiled by the runtime.
package config

// Config is one whole configuration: the static half (read at start) and the
// dynamic half (hot-reloaded).
type Config struct {
	// static half: a change needs a restart
	Log           *Log                     `json:"log,omitempty" doc:"usher's own log"`
	AccessLog     *AccessLog               `json:"accessLog,omitempty" doc:"one line per request; off when absent"`
	Admin         *Admin                   `json:"admin,omitempty" doc:"admin API, /metrics and dashboard"`
	Tracing       *Tracing                 `json:"tracing,omitempty" doc:"export a span per request over OTLP/HTTP; off when absent (an incoming traceparent is continued either way)"`
	Entrypoints   map[string]*Entrypoint   `json:"entrypoints,omitempty" doc:"listeners, by name"`
	Providers     *Providers               `json:"providers,omitempty" doc:"where dynamic configuration comes from"`
	CertResolvers map[string]*CertResolver `json:"certResolvers,omitempty" doc:"automatic certificates, by name"`
	Cluster       *Cluster                 `json:"cluster,omitempty" doc:"hot spare of usher itself"`
	DataDir       string                   `json:"dataDir,omitempty" doc:"directory for state usher generates and keeps (sticky cookie keys); default 'data' beside the config file"`
	Redis         *Redis                   `json:"redis,omitempty" doc:"the one Redis connection pool that every store: redis (rate limits, cache, sessions) uses"`

	// dynamic half: hot-reloaded
	HTTP *HTTP `json:"http,omitempty" doc:"HTTP routers, services and middlewares"`
	TCP  *TCP  `json:"tcp,omitempty" doc:"TCP routers and services"`
	UDP  *UDP  `json:"udp,omitempty" doc:"UDP routers and services"`
	TLS  *TLS  `json:"tls,omitempty" doc:"certificates and TLS options"`

	// Source tells where each key was read; nil for a config built in code.
	Source *Source `json:"-"`
}

// Log configures usher's own log.
type Log struct {
	Level  string `json:"level,omitempty" doc:"debug|info|warn|error; default info"`
	Format string `json:"format,omitempty" doc:"json|text; default json"`
}

// AccessLog configures the per-request log.
type AccessLog struct {
	Path   string `json:"path,omitempty" doc:"stdout, stderr or a file path; default stdout"`
	Format string `json:"format,omitempty" doc:"json|text; default json"`
}

// Tracing configures the export of spans. Without it usher still passes W3C
// traceparent on (keeping the trace id, with a span id of its own) but records
// nothing.
type Tracing struct {
	OTLPEndpoint string   `json:"otlpEndpoint" secret:"userinfo" doc:"OTLP/HTTP collector URL, e.g. http://127.0.0.1:4318 (/v1/traces is appended when the URL has no path)"`
	ServiceName  string   `json:"serviceName,omitempty" doc:"service.name of the spans; default usher"`
	SampleRatio  *float64 `json:"sampleRatio,omitempty" doc:"share of new traces recorded, 0 to 1; default 1 (a trace begun upstream keeps its sampled flag)"`
}

// Admin configures the admin listener.
type Admin struct {
	Address   string `json:"address,omitempty" doc:"host:port; default 127.0.0.1:9090"`
	Dashboard bool   `json:"dashboard,omitempty" doc:"serve the dashboard at /dashboard/"`
	Token     string `json:"token,omitempty" secret:"true" doc:"bearer token required when bound beyond loopback (secret)"`
}

// Entrypoint is one listener.
type Entrypoint struct {
	Address    string         `json:"address" doc:"host:port to listen on, e.g. :8080"`
	Protocol   string         `json:"protocol,omitempty" doc:"http|tcp|udp; default http"`
	RedirectTo string         `json:"redirectTo,omitempty" doc:"answer every request with a 308 to this entrypoint (https when it has tls)"`
	TLS        *EntrypointTLS `json:"tls,omitempty" doc:"terminate TLS on this entrypoint"`
	HTTP3      *HTTP3         `json:"http3,omitempty" doc:"also serve HTTP/3 (QUIC) on the same port over UDP, announced with Alt-Svc: true, or a mapping of options; needs tls; default false"`

	ReadHeaderTimeout Duration `json:"readHeaderTimeout,omitempty" doc:"time to read request headers; default 10s"`
	ReadTimeout       Duration `json:"readTimeout,omitempty" doc:"time to read a whole request; default 0 (none)"`
	WriteTimeout      Duration `json:"writeTimeout,omitempty" doc:"time to write a whole response; default 0 (none)"`
	IdleTimeout       Duration `json:"idleTimeout,omitempty" doc:"keep-alive idle time; default 180s"`
	BodyIdleTimeout   Duration `json:"bodyIdleTimeout,omitempty" doc:"longest wait for request body bytes, between two reads (and for the body after 100 Continue); a body that times out gets 408; default 60s"`
	MaxHeaderBytes    ByteSize `json:"maxHeaderBytes,omitempty" doc:"largest request header block; default 64KiB"`
	TrustedProxies    []string `json:"trustedProxies,omitempty" doc:"CIDRs whose X-Forwarded-* headers are believed"`
	GracePeriod       Duration `json:"gracePeriod,omitempty" doc:"on shutdown, time given to in-flight requests; default 10s"`
	H2C               bool     `json:"h2c,omitempty" doc:"on a plain entrypoint, serve HTTP/2 without TLS too: with prior knowledge (the HTTP/2 preface first) and after Upgrade: h2c; default false"`

	// Path and header hygiene at the door (docs/CONFIG.md, entrypoints).
	SanitizePath      *bool `json:"sanitizePath,omitempty" doc:"put each request's path in normal form before routing (dot segments removed, repeated slashes merged, unreserved escapes decoded) and refuse an encoded slash, backslash or NUL with 400; false passes paths as they came; default true"`
	AllowEncodedSlash bool  `json:"allowEncodedSlash,omitempty" doc:"with sanitizePath, let %2F and %5C through, kept encoded, instead of refusing them; default false"`
	// Underscores: CGI-style servers read X_Forwarded_For as X-Forwarded-For.
	AllowUnderscoresInHeaders bool `json:"allowUnderscoresInHeaders,omitempty" doc:"keep request header fields whose names have an underscore (X_Forwarded_For), which are dropped otherwise, as nginx does; default false"`

	// Connection limits (conn.go): applied on reload, unlike the rest of an entrypoint.
	MaxConnections      int `json:"maxConnections,omitempty" doc:"most client connections open at once; a connection over it gets a 503 with Retry-After (TLS: is closed) at once; default 0 (no limit); applied on reload"`
	MaxConnectionsPerIP int `json:"maxConnectionsPerIP,omitempty" doc:"most connections open at once from one client address (IPv6: one /64), the TCP peer's; over it as maxConnections; default 0 (no limit); applied on reload"`
}

// EntrypointTLS turns on TLS for an entrypoint.
type EntrypointTLS struct {
	CertResolver string `json:"certResolver,omitempty" doc:"name of a certResolver that obtains certificates"`
	Options      string `json:"options,omitempty" doc:"name of tls.options; default 'default'"`
}

// Providers lists the sources of dynamic configuration.
type Providers struct {
	File   *FileProvider   `json:"file,omitempty" doc:"this file (and a directory) as dynamic configuration"`
	Docker *DockerProvider `json:"docker,omitempty" doc:"containers' labels as dynamic configuration"`
}

// FileProvider reads dynamic configuration from the config file and a directory.
type FileProvider struct {
	Watch     bool   `json:"watch,omitempty" doc:"reload when the file or directory changes (SIGHUP always reloads)"`
	Directory string `json:"directory,omitempty" doc:"directory of further .yaml/.yml/.toml files with dynamic configuration"`
}

// DockerProvider reads labels of containers (internal/provider/docker).
type DockerProvider struct {
	Endpoint         string   `json:"endpoint,omitempty" secret:"userinfo" doc:"docker API endpoint: unix:///path/to/docker.sock or tcp://host:port; default unix:///var/run/docker.sock"`
	ExposedByDefault bool     `json:"exposedByDefault,omitempty" doc:"route containers without usher.enable=true (usher.enable=false still leaves one out); default false"`
	Network          string   `json:"network,omitempty" doc:"docker network whose container addresses usher dials; default: the container's only network, or the first by name"`
	Constraints      string   `json:"constraints,omitempty" doc:"expression on labels a container must match to be read: Label('k', 'v'), LabelRegex('k', 're'), Name('n') with &&, ||, ! and parentheses; default: every container"`
	Watch            *bool    `json:"watch,omitempty" doc:"follow the engine's events and reload when containers change; default true"`
	Throttle         Duration `json:"throttle,omitempty" doc:"least time between two reloads caused by container events; default 100ms"`
}

// CertResolver obtains certificates.
type CertResolver struct {
	ACME *ACME `json:"acme,omitempty" doc:"ACME (Let's Encrypt and others)"`
}

// Redis is the connection to a Redis server shared by every middleware whose
// store is redis, so that several usher instances share their state.
type Redis struct {
	Address  string     `json:"address" doc:"host:port of the Redis server"`
	Username string     `json:"username,omitempty" doc:"ACL user name; default none (the default user)"`
	Password string     `json:"password,omitempty" secret:"true" doc:"password (secret; passwordFile reads it from a file)"`
	DB       int        `json:"db,omitempty" doc:"database number; default 0"`
	TLS      *ClientTLS `json:"tls,omitempty" doc:"speak TLS to Redis; absent: plain TCP"`
	Timeout  Duration   `json:"timeout,omitempty" doc:"for connecting and for each command; default 500ms (a store that does not answer in time is a store error: see onStoreError)"`
	PoolSize int        `json:"poolSize,omitempty" doc:"most connections open at once; default 64"`
}

// Cluster configures usher's own high availability. Reserved: no key is accepted yet.
type Cluster struct{}

// HTTP is the dynamic HTTP configuration.
type HTTP struct {
	Routers     map[string]*Router     `json:"routers,omitempty" doc:"routers, by name"`
	Services    map[string]*Service    `json:"services,omitempty" doc:"services, by name"`
	Middlewares map[string]*Middleware `json:"middlewares,omitempty" doc:"middlewares, by name"`
}

// Router matches requests and sends them through middlewares to a service.
type Router struct {
	Entrypoints []string   `json:"entrypoints,omitempty" doc:"entrypoints this router listens on; default all http entrypoints"`
	Rule        string     `json:"rule" doc:"matching rule, e.g. Host('example.com') && PathPrefix('/api') with backticks or double quotes"`
	Priority    int        `json:"priority,omitempty" doc:"higher first; 0 = by rule length, longer first"`
	Middlewares []string   `json:"middlewares,omitempty" doc:"middlewares applied in order"`
	Service     string     `json:"service" doc:"service that answers"`
	TLS         *RouterTLS `json:"tls,omitempty" doc:"match only TLS requests and set how certificates are found"`

	// Provider is where the router was defined, for the admin API: "" is
	// the file, "docker" a container's labels. Not a key of the file.
	Provider string `json:"-"`
}

// RouterTLS restricts a router to TLS and names a resolver for its hosts.
type RouterTLS struct {
	CertResolver string   `json:"certResolver,omitempty" doc:"certResolver for this router's hosts (those of Host in its rule, and domains)"`
	Domains      []Domain `json:"domains,omitempty" doc:"names to get certificates for, beyond (or instead of) the rule's Host names"`
	Options      string   `json:"options,omitempty" doc:"name of tls.options"`
}

// Service is exactly one of its fields.
type Service struct {
	LoadBalancer *LoadBalancer `json:"loadBalancer,omitempty" doc:"balance over servers"`
	Weighted     *Weighted     `json:"weighted,omitempty" doc:"split traffic between services by weight (canary, blue-green)"`
	Mirror       *Mirror       `json:"mirror,omitempty" doc:"serve from one service and copy requests to others"`
	Failover     *Failover     `json:"failover,omitempty" doc:"serve from a fallback when the main service has no healthy server"`
}

// LoadBalancer balances requests over servers.
type LoadBalancer struct {
	Algorithm          string              `json:"algorithm,omitempty" doc:"round-robin|random|least-connections|p2c|ewma|least-time|ip-hash|uri-hash|header-hash|cookie-hash; default round-robin"`
	HashKey            string              `json:"hashKey,omitempty" doc:"header (header-hash) or cookie (cookie-hash) name"`
	HashBalanceFactor  float64             `json:"hashBalanceFactor,omitempty" doc:"bounded load: no server above this times the mean; default 1.25"`
	Decay              Duration            `json:"decay,omitempty" doc:"ewma time constant; default 10s"`
	Servers            []Server            `json:"servers" doc:"the servers"`
	PassHostHeader     *bool               `json:"passHostHeader,omitempty" doc:"send the client's Host to servers; default true"`
	Sticky             *Sticky             `json:"sticky,omitempty" doc:"keep a client on one server"`
	HealthCheck        *HealthCheck        `json:"healthCheck,omitempty" doc:"active health checks"`
	PassiveHealthCheck *PassiveHealthCheck `json:"passiveHealthCheck,omitempty" doc:"eject servers that fail real traffic"`
	Retry              *Retry              `json:"retry,omitempty" doc:"retry on another server"`
	SlowStart          Duration            `json:"slowStart,omitempty" doc:"ramp a new or recovered server's weight up over this time"`
	WhenNoHealthy      string              `json:"whenNoHealthy,omitempty" doc:"panic (spread over all servers) | 503; default 503"`
	Transport          *Transport          `json:"transport,omitempty" doc:"how usher talks to servers"`
	MaxConnsPerServer  int                 `json:"maxConnsPerServer,omitempty" doc:"most requests each server answers at once (servers[].maxConns overrides it); a request finding every server full waits in queue, or gets 503 without one; default 0 (no limit)"`
	Queue              *Queue              `json:"queue,omitempty" doc:"where requests wait, first come first served, while every server is at its maxConns; absent: no waiting, 503 at once"`
	Autoscale          *Autoscale          `json:"autoscale,omitempty" doc:"grow and shrink the pool with its load; servers, if any, are the floor that is always there"`
}

// Server is one upstream of a load balancer.
type Server struct {
	URL    string `json:"url" secret:"userinfo" doc:"http://host:port (a path prefix is allowed); a user:password@ is never shown"`
	Weight *int   `json:"weight,omitempty" doc:"relative weight; default 1; 0 takes no new traffic"`
	// MaxConns is HAProxy's maxconn of a server: requests, not idle connections.
	MaxConns int `json:"maxConns,omitempty" doc:"most requests this server answers at once; default the load balancer's maxConnsPerServer"`
}

// Sticky pins a client to a server with a cookie.
type Sticky struct {
	Cookie *StickyCookie `json:"cookie,omitempty" doc:"the cookie that pins"`
}

// StickyCookie is the cookie of a sticky session.
type StickyCookie struct {
	Name     string `json:"name,omitempty" doc:"cookie name; default derived from the service name"`
	Secure   bool   `json:"secure,omitempty" doc:"Secure attribute"`
	HTTPOnly bool   `json:"httpOnly,omitempty" doc:"HttpOnly attribute"`
	SameSite string `json:"sameSite,omitempty" doc:"lax|strict|none"`
	MaxAge   int    `json:"maxAge,omitempty" doc:"seconds; 0 = session cookie"`
	Path     string `json:"path,omitempty" doc:"Path attribute; default /"`
	Domain   string `json:"domain,omitempty" doc:"Domain attribute"`
	Secret   string `json:"secret,omitempty" secret:"true" doc:"HMAC key (secret); generated and kept in the data directory when absent"`
}

// HealthCheck is the active health check (heartbeat).
type HealthCheck struct {
	Kind           string            `json:"kind,omitempty" doc:"http|tcp|grpc: an HTTP request, a TCP connect, or grpc.health.v1.Health/Check over HTTP/2; default http"`
	Mode           string            `json:"mode,omitempty" doc:"the same as kind, under Traefik's name"`
	GRPCService    string            `json:"grpcService,omitempty" doc:"kind grpc: the service whose health is asked; default \"\", the server as a whole"`
	Path           string            `json:"path,omitempty" doc:"path probed; default /"`
	Method         string            `json:"method,omitempty" doc:"default GET"`
	Hostname       string            `json:"hostname,omitempty" doc:"Host header of probes"`
	Port           int               `json:"port,omitempty" doc:"probe this port instead of the server's"`
	Headers        map[string]string `json:"headers,omitempty" secret:"values" doc:"extra headers of probes (values are secret: they may carry tokens)"`
	Interval       Duration          `json:"interval,omitempty" doc:"time between probes; default 3s"`
	Timeout        Duration          `json:"timeout,omitempty" doc:"probe timeout; default 1s"`
	ExpectStatus   string            `json:"expectStatus,omitempty" doc:"status range that passes, e.g. 200-399; default 200-399"`
	ExpectBody     string            `json:"expectBody,omitempty" doc:"regexp the body must match"`
	HealthyAfter   int               `json:"healthyAfter,omitempty" doc:"consecutive passes to become healthy; default 2"`
	UnhealthyAfter int               `json:"unhealthyAfter,omitempty" doc:"consecutive failures to become unhealthy; default 3"`
}

// PassiveHealthCheck ejects servers that fail real traffic.
type PassiveHealthCheck struct {
	MaxFailures       int      `json:"maxFailures,omitempty" doc:"consecutive failures within window that eject; default 5"`
	Window            Duration `json:"window,omitempty" doc:"default 10s"`
	EjectFor          Duration `json:"ejectFor,omitempty" doc:"first ejection time, doubled on repeats; default 30s"`
	MaxEjectedPercent int      `json:"maxEjectedPercent,omitempty" doc:"never eject more of the pool; default 50"`
	On5xx             bool     `json:"on5xx,omitempty" doc:"count 5xx responses as failures"`
}

// Retry retries a failed request on another server.
type Retry struct {
	Attempts *int     `json:"attempts,omitempty" doc:"retries after the first try; default 2; 0 = never retry"`
	OnStatus []int    `json:"onStatus,omitempty" doc:"statuses that are retried (idempotent methods only); default 502,503,504"`
	Methods  []string `json:"methods,omitempty" doc:"methods retried on status or timeout; default GET,HEAD,OPTIONS,PUT,DELETE"`
}

// Transport configures connections to servers.
type Transport struct {
	DialTimeout           Duration   `json:"dialTimeout,omitempty" doc:"default 2s"`
	ResponseHeaderTimeout Duration   `json:"responseHeaderTimeout,omitempty" doc:"time to the response headers; default 30s"`
	IdleConnTimeout       Duration   `json:"idleConnTimeout,omitempty" doc:"idle pooled connections are closed after this; default 90s"`
	MaxIdleConnsPerHost   int        `json:"maxIdleConnsPerHost,omitempty" doc:"default 256"`
	TLS                   *ClientTLS `json:"tls,omitempty" doc:"TLS to servers (https:// URLs)"`
	Protocol              string     `json:"protocol,omitempty" doc:"http1|h2|h2c|auto: HTTP/1.1; HTTP/2 over TLS (https:// servers); HTTP/2 in the clear with prior knowledge (http:// servers); over TLS what the server picks by ALPN, in the clear HTTP/1.1; default http1"`
}

// ClientTLS is TLS from usher to servers.
type ClientTLS struct {
	CA                 string `json:"ca,omitempty" doc:"CA bundle file trusted for servers"`
	Cert               string `json:"cert,omitempty" doc:"client certificate file"`
	Key                string `json:"key,omitempty" doc:"client key file"`
	ServerName         string `json:"serverName,omitempty" doc:"SNI and name verified"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty" doc:"do not verify servers' certificates"`
}

// Weighted splits traffic between services.
type Weighted struct {
	Services []WeightedService `json:"services" doc:"services and their weights"`
	Sticky   *Sticky           `json:"sticky,omitempty" doc:"keep a client on one service"`
	Canary   *Canary           `json:"canary,omitempty" doc:"move traffic to one of the services step by step, judged on its own figures"`
	BucketBy string            `json:"bucketBy,omitempty" doc:"A/B buckets: what a user is known by, cookie:NAME, header:NAME, claim:NAME or clientIP; a user stays on one service while weights change"`
	// VariantHeader is set by defaults when BucketBy is.
	VariantHeader string `json:"variantHeader,omitempty" doc:"bucketBy: the request header that tells servers the service (variant) chosen; default X-Usher-Variant"`
}

// WeightedService is one arm of a weighted service.
type WeightedService struct {
	Name   string `json:"name" doc:"service name"`
	Weight *int   `json:"weight,omitempty" doc:"default 1"`
}

// Mirror serves from one service and copies requests to others.
type Mirror struct {
	Service     string         `json:"service" doc:"service that answers"`
	Mirrors     []MirrorTarget `json:"mirrors" doc:"services that get copies; their responses are discarded"`
	MaxBodySize ByteSize       `json:"maxBodySize,omitempty" doc:"largest request body copied; larger requests are not mirrored; default 64KiB"`
	Compare     *MirrorCompare `json:"compare,omitempty" doc:"compare each mirror's response with the main one (shadow traffic), counted in usher_mirror_compare_total and logged when they differ"`
}

// MirrorCompare is what is compared of each mirror's response with the main
// one. The client always gets the main response, never held for it.
type MirrorCompare struct {
	Status      *bool    `json:"status,omitempty" doc:"compare the final status codes; default true"`
	Body        *bool    `json:"body,omitempty" doc:"compare the bodies, each streamed into a hash (never held); default true"`
	Headers     []string `json:"headers,omitempty" doc:"response headers whose values are compared (every value, in order); names only are ever logged"`
	MaxBodySize ByteSize `json:"maxBodySize,omitempty" doc:"most bytes of each body hashed; two bodies longer than this are not compared (skipped), bodies of different lengths always differ; default 1MiB"`
}

// MirrorTarget is one mirror.
type MirrorTarget struct {
	Name    string `json:"name" doc:"service name"`
	Percent *int   `json:"percent,omitempty" doc:"percent of requests copied, 0-100; default 100"`
}

// Failover serves from a fallback when the main service has no healthy server.
type Failover struct {
	Service  string `json:"service" doc:"main service"`
	Fallback string `json:"fallback" doc:"service used when the main one has no healthy server"`
}

// TCP is the dynamic TCP configuration.
type TCP struct {
	Routers  map[string]*TCPRouter  `json:"routers,omitempty" doc:"routers, by name"`
	Services map[string]*TCPService `json:"services,omitempty" doc:"services, by name"`
}

// TCPRouter routes TCP connections.
type TCPRouter struct {
	Entrypoints []string      `json:"entrypoints,omitempty" doc:"tcp entrypoints"`
	Rule        string        `json:"rule" doc:"HostSNI, HostSNIRegexp, ClientIP rule"`
	Priority    int           `json:"priority,omitempty" doc:"higher first; 0 = by rule length"`
	Service     string        `json:"service" doc:"service that answers"`
	TLS         *TCPRouterTLS `json:"tls,omitempty" doc:"TLS handling"`
}

// TCPRouterTLS sets TLS handling of a TCP router.
type TCPRouterTLS struct {
	Passthrough bool `json:"passthrough,omitempty" doc:"forward TLS untouched, routing on SNI"`
}

// TCPService is exactly one of its fields.
type TCPService struct {
	LoadBalancer *TCPLoadBalancer `json:"loadBalancer,omitempty" doc:"balance over servers"`
}

// TCPLoadBalancer balances connections.
type TCPLoadBalancer struct {
	Servers []TCPServer `json:"servers" doc:"the servers"`
}

// TCPServer is one TCP or UDP upstream.
type TCPServer struct {
	Address string `json:"address" doc:"host:port"`
	Weight  *int   `json:"weight,omitempty" doc:"default 1"`
}

// UDP is the dynamic UDP configuration.
type UDP struct {
	Routers  map[string]*UDPRouter  `json:"routers,omitempty" doc:"routers, by name"`
	Services map[string]*TCPService `json:"services,omitempty" doc:"services, by name"`
}

// UDPRouter routes UDP datagrams of an entrypoint.
type UDPRouter struct {
	Entrypoints []string `json:"entrypoints,omitempty" doc:"udp entrypoints"`
	Service     string   `json:"service" doc:"service that answers"`
}

// TLS holds certificates and TLS options.
type TLS struct {
	Certificates []Certificate          `json:"certificates,omitempty" doc:"certificates served by SNI"`
	Options      map[string]*TLSOptions `json:"options,omitempty" doc:"named TLS options; 'default' applies when none is named"`
}

// Certificate is a certificate and key pair.
type Certificate struct {
	CertFile string `json:"certFile" doc:"PEM certificate chain file"`
	KeyFile  string `json:"keyFile" doc:"PEM private key file"`
}

// TLSOptions are TLS parameters.
type TLSOptions struct {
	MinVersion       string      `json:"minVersion,omitempty" doc:"1.2|1.3; default 1.2"`
	MaxVersion       string      `json:"maxVersion,omitempty" doc:"1.2|1.3; default 1.3"`
	CipherSuites     []string    `json:"cipherSuites,omitempty" doc:"TLS 1.2 cipher suites offered, by Go's names (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256...); default Go's secure ones; TLS 1.3 suites are fixed"`
	CurvePreferences []string    `json:"curvePreferences,omitempty" doc:"key exchanges, in order of preference: X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024, X25519, CurveP256, CurveP384, CurveP521; default Go's"`
	ALPNProtocols    []string    `json:"alpnProtocols,omitempty" doc:"protocols offered through ALPN, in order of preference: h2, http/1.1; default [h2, http/1.1]"`
	SNIStrict        bool        `json:"sniStrict,omitempty" doc:"refuse handshakes whose SNI no certificate covers (and those without SNI) instead of serving the first certificate; default false"`
	ClientAuth       *ClientAuth `json:"clientAuth,omitempty" doc:"client certificates (mTLS)"`
}

// ClientAuth configures client certificates.
type ClientAuth struct {
	CAFiles []string `json:"caFiles,omitempty" doc:"CA bundles that client certificates must chain to"`
	Mode    string   `json:"mode,omitempty" doc:"none|request|require|verifyIfGiven|verify; default none"`
}
