package config

// Errors replaces the body of error responses with a page from a service
// (Traefik's errors middleware): the status is kept, the body and its
// headers are the page's.
type Errors struct {
	Status         []string       `json:"status" doc:"statuses whose responses get the page: codes (\"404\"), ranges (\"500-599\") or both separated by commas (\"404,500-599\"), 100 to 599; required"`
	StatusRewrites map[string]int `json:"statusRewrites,omitempty" doc:"status the client gets with the page instead of the original, by status or range of statuses (\"418\": 404, \"502-504\": 500); default none"`
	Service        string         `json:"service" doc:"the service (of http.services) asked for the page, with a GET; required"`
	Query          string         `json:"query,omitempty" doc:"path and query of the page request; {status} is the status the client gets, {originalStatus} the server's, {url} the request's URL (query-escaped); default /"`
}
