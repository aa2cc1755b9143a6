package config

import "time"

// Cache is a shared HTTP cache (RFC 9111) in front of the router's service.
type Cache struct {
	Store           string   `json:"store,omitempty" doc:"memory (this process) | redis (the static redis section, shared by every usher using it); default memory"`
	MaxBytes        ByteSize `json:"maxBytes,omitempty" doc:"memory store: the most its entries take, least recently used evicted first; default 256MiB"`
	MaxEntryBytes   ByteSize `json:"maxEntryBytes,omitempty" doc:"largest response body stored; larger ones pass through, streamed, unstored; default 8MiB (and never more than maxBytes)"`
	KeepStale       Duration `json:"keepStale,omitempty" doc:"how long past its freshness an entry with a validator (ETag, Last-Modified) is kept, to be revalidated with a conditional request instead of fetched again; default 1h"`
	CoalesceTimeout Duration `json:"coalesceTimeout,omitempty" doc:"how long requests for a URL that is being fetched wait for that fetch before going to the server on their own; default 5s"`
	KeyPrefix       string   `json:"keyPrefix,omitempty" doc:"redis store: prefix of its keys; ushers with the same prefix share entries; default usher:cache:<middleware name>:"`
}

// The defaults of cache, shared with its middleware.
const (
	CacheMaxBytes        = 256 << 20
	CacheMaxEntryBytes   = 8 << 20
	CacheKeepStale       = time.Hour
	CacheCoalesceTimeout = 5 * time.Second
)
