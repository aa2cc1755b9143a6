package config

// APIKey lets through requests that present one of its keys, which it
// knows only by their SHA-256; others get 401.
type APIKey struct {
	Header   string        `json:"header,omitempty" doc:"request header holding the key; default X-Api-Key; removed before forwarding"`
	Query    string        `json:"query,omitempty" doc:"query parameter holding the key, looked at when the header is absent; removed before forwarding"`
	Keys     []APIKeyEntry `json:"keys,omitempty" doc:"the keys, by id and SHA-256"`
	KeysFile string        `json:"keysFile,omitempty" doc:"file of more keys, one id:sha256hex a line (# starts a comment); read at each reload"`
	IDHeader string        `json:"idHeader,omitempty" doc:"request header that tells the server the key's id (never the key); the client's own copies are removed"`
}

// APIKeyEntry is one API key: its id, shown in the access log and sent in
// idHeader, and the SHA-256 of the key (printf %s "$KEY" | sha256sum).
type APIKeyEntry struct {
	ID     string `json:"id" doc:"the key's name, shown in the access log and sent to the server"`
	SHA256 string `json:"sha256" secret:"true" doc:"hex SHA-256 of the key (64 hex digits), hidden from the admin API"`
}

// APIKeyHeader is apiKey's default header.
const APIKeyHeader = "X-Api-Key"

func (a *APIKey) applyDefaults() {
	if a.Header == "" {
		a.Header = APIKeyHeader
	}
}
