package config

// WAF inspects requests, and responses when asked, with Coraza and the OWASP
// Core Rule Set (CRS) built into usher, in the CRS's anomaly scoring mode:
// each rule that matches adds to a score, and a request whose score reaches
// inboundAnomalyThreshold is refused.
type WAF struct {
	ParanoiaLevel            int       `json:"paranoiaLevel,omitempty" doc:"1 to 4: how many of the CRS's rules run; each level catches more attacks and refuses more legitimate traffic; default 1"`
	InboundAnomalyThreshold  int       `json:"inboundAnomalyThreshold,omitempty" doc:"score of a request at which it is refused (a critical match scores 5, an error 4, a warning 3, a notice 2); default 5"`
	OutboundAnomalyThreshold int       `json:"outboundAnomalyThreshold,omitempty" doc:"score of a response at which it is replaced by a 403 (with responseInspection); default 4"`
	Mode                     string    `json:"mode,omitempty" doc:"block: matching requests are refused; detect: they pass, and are logged and counted as detected; default block"`
	RequestBodyLimit         *ByteSize `json:"requestBodyLimit,omitempty" doc:"request body bytes inspected, held in memory while they are; default 1MiB; 0: bodies are not inspected"`
	OnRequestBodyLimit       string    `json:"onRequestBodyLimit,omitempty" doc:"a body longer than requestBodyLimit: reject (413) or inspectPart (its first requestBodyLimit bytes are inspected, the rest passes unread); default reject"`
	ResponseInspection       bool      `json:"responseInspection,omitempty" doc:"inspect responses (headers, and bodies of the types of responseBodyTypes) for data leaks; default false"`
	ResponseBodyLimit        *ByteSize `json:"responseBodyLimit,omitempty" doc:"response body bytes held and inspected before they are sent; the rest is sent uninspected; default 512KiB, at least 1"`
	ResponseBodyTypes        []string  `json:"responseBodyTypes,omitempty" doc:"media types of the response bodies inspected; default [text/html, text/plain, text/xml, application/json]"`
	AllowedMethods           []string  `json:"allowedMethods,omitempty" doc:"methods the CRS lets through (others score as an attack); default [GET, HEAD, POST, OPTIONS, PUT, PATCH, DELETE]"`
	ExcludeRules             []int     `json:"excludeRules,omitempty" doc:"ids of CRS (or own) rules that do not run for the routers of this middleware, e.g. 942100"`
	ExcludeTags              []string  `json:"excludeTags,omitempty" doc:"tags of rules that do not run, e.g. attack-sqli or paranoia-level/2"`
	Rules                    []string  `json:"rules,omitempty" doc:"own directives in Coraza's SecLang (SecRule ..., SecAction ...), one per entry; run before the CRS, but SecRuleRemove* and SecRuleUpdate* apply after it"`
	RulesFiles               []string  `json:"rulesFiles,omitempty" doc:"files of own directives, read at each (re)load; loaded after rules, in the same way"`
}

// The defaults of waf, shared with its middleware.
const (
	WAFParanoiaLevel            = 1
	WAFInboundAnomalyThreshold  = 5
	WAFOutboundAnomalyThreshold = 4
	WAFRequestBodyLimit         = 1 << 20
	WAFResponseBodyLimit        = 512 << 10
	// WAFMaxBodyLimit bounds both body limits: bodies are held in memory.
	WAFMaxBodyLimit = 64 << 20
)

// WAFAllowedMethods is the default of allowedMethods: the CRS's own (GET,
// HEAD, POST, OPTIONS) and those of APIs.
var WAFAllowedMethods = []string{"GET", "HEAD", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"}

// WAFResponseBodyTypes is the default of responseBodyTypes.
var WAFResponseBodyTypes = []string{"text/html", "text/plain", "text/xml", "application/json"}
