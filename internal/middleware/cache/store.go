package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/middleware/cache/rfc9111"
)

// Entry is one stored response: the representation of URL selected by
// Variant (the normalized values of the request headers its Vary names, ""
// without Vary). Entries are immutable once stored: an update is a new Entry
// put in the old one's place.
type Entry struct {
	URL     string // primary key: scheme://host/path?query
	Variant string // secondary key
	Status  int
	Header  http.Header
	Body    []byte
	// RequestTime and ResponseTime are when the request that got it was
	// sent and its response arrived (RFC 9111 §4.2.3).
	RequestTime, ResponseTime time.Time
	Expires                   time.Time // when the store may forget it
	Tags                      []string  // from Cache-Tag and Surrogate-Key, for purges

	// cc is Header's Cache-Control parsed when the entry was made, so that
	// a hit from the memory store does not parse it again; nil for an
	// entry decoded from another store.
	cc *rfc9111.Directives
	// fixed is what the entry's freshness takes from its header (parsed
	// dates, the initial age, the lifetime), computed with cc.
	fixed *fixedFreshness
	// contentLength is len(Body) in decimal, for the hits' Content-Length;
	// set by sealed.
	contentLength string
}

type fixedFreshness struct {
	initialAge, lifetime time.Duration
}

// directives are the entry's Cache-Control directives.
func (e *Entry) directives() rfc9111.Directives {
	if e.cc != nil {
		return *e.cc
	}
	return rfc9111.Parse(e.Header["Cache-Control"])
}

// parsed records the entry's Cache-Control, once its header is final.
func (e *Entry) parsed() *Entry {
	cc := rfc9111.Parse(e.Header["Cache-Control"])
	e.cc = &cc
	r := rfc9111.Response{Status: e.Status, Header: e.Header, CC: cc, RequestTime: e.RequestTime, ResponseTime: e.ResponseTime}
	lifetime, _ := r.Lifetime()
	e.fixed = &fixedFreshness{initialAge: r.InitialAge(), lifetime: lifetime}
	return e
}

// sealed records what hits take from the body, once it is complete: before
// the entry is stored, while no other goroutine has it.
func (e *Entry) sealed() *Entry {
	if e.contentLength == "" { // an entry put again is only read
		e.contentLength = strconv.Itoa(len(e.Body))
	}
	return e
}

// size is what the entry costs a store, for its byte bound.
func (e *Entry) size() int64 {
	n := len(e.URL) + len(e.Variant) + len(e.Body) + 128
	for k, vv := range e.Header {
		n += len(k) + 4
		for _, v := range vv {
			n += len(v) + 4
		}
	}
	for _, t := range e.Tags {
		n += len(t) + 16
	}
	return int64(n)
}

// maxVariants is the most variants a URL keeps, and maxTags the most tags
// an entry is found by: bounds against requests and responses that make up
// header values.
const (
	maxVariants = 32
	maxTags     = 64
)

// Selector picks the entries a purge removes: those of one URL (every
// variant), those whose URL starts with Prefix, those tagged Tag, or all.
// A URL or prefix that starts with "/" matches that path on every host.
type Selector struct {
	URL    string `json:"url,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Tag    string `json:"tag,omitempty"`
	All    bool   `json:"all,omitempty"`
}

// matches tells whether an entry of url with tags is selected.
func (s Selector) matches(url string, tags []string) bool {
	switch {
	case s.All:
		return true
	case s.URL != "":
		if strings.HasPrefix(s.URL, "/") {
			return pathOf(url) == s.URL
		}
		return url == s.URL
	case s.Prefix != "":
		if strings.HasPrefix(s.Prefix, "/") {
			return strings.HasPrefix(pathOf(url), s.Prefix)
		}
		return strings.HasPrefix(url, s.Prefix)
	case s.Tag != "":
		for _, t := range tags {
			if t == s.Tag {
				return true
			}
		}
	}
	return false
}

// pathOf is the path and query of a primary key.
func pathOf(url string) string {
	_, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

// StoreStats are what a store holds; Bytes is -1 when the store cannot
// tell (redis: its own memory accounting is the server's).
type StoreStats struct {
	Entries int64 `json:"entries"`
	Bytes   int64 `json:"bytes"`
}

// Store keeps entries. Its methods are safe for concurrent use, and may be
// shared by several caches (a memory store across reloads, a redis store
// across usher instances).
type Store interface {
	// Get returns the entries of url, every variant, including stale ones
	// the store still keeps; none is a miss (nil error).
	Get(ctx context.Context, url string) ([]*Entry, error)
	// Put stores e in place of the entry of the same URL and Variant.
	Put(ctx context.Context, e *Entry) error
	// Delete removes the entry of url and variant.
	Delete(ctx context.Context, url, variant string) error
	// Purge removes the entries sel selects and tells how many went.
	Purge(ctx context.Context, sel Selector) (int, error)
	// Stats tells what the store holds.
	Stats(ctx context.Context) (StoreStats, error)
}

// Entries are encoded for stores outside the process as: a version byte,
// then uvarint-length-prefixed fields. Nothing of it is trusted on decode
// past its bounds.
const entryVersion = 1

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeEntry(e *Entry) []byte {
	b := make([]byte, 0, len(e.Body)+512)
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, uint64(e.Status))
	b = binary.AppendVarint(b, e.RequestTime.UnixNano())
	b = binary.AppendVarint(b, e.ResponseTime.UnixNano())
	b = binary.AppendVarint(b, e.Expires.UnixNano())
	b = appendString(b, e.URL)
	b = appendString(b, e.Variant)
	b = binary.AppendUvarint(b, uint64(len(e.Tags)))
	for _, t := range e.Tags {
		b = appendString(b, t)
	}
	n := 0
	for _, vv := range e.Header {
		n += len(vv)
	}
	b = binary.AppendUvarint(b, uint64(n))
	for k, vv := range e.Header {
		for _, v := range vv {
			b = appendString(b, k)
			b = appendString(b, v)
		}
	}
	return appendString(b, string(e.Body))
}

var errCorrupt = errors.New("cache: stored entry is corrupt")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		d.b = nil
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func decodeEntry(b []byte) (*Entry, error) {
	if len(b) == 0 || b[0] != entryVersion {
		return nil, errCorrupt
	}
	d := &decoder{b: b[1:]}
	e := &Entry{Status: int(d.uvarint())}
	e.RequestTime = time.Unix(0, d.varint())
	e.ResponseTime = time.Unix(0, d.varint())
	e.Expires = time.Unix(0, d.varint())
	e.URL = string(d.bytes())
	e.Variant = string(d.bytes())
	nt := d.uvarint()
	if nt > uint64(len(d.b)) {
		return nil, errCorrupt
	}
	for i := uint64(0); i < nt && d.err == nil; i++ {
		e.Tags = append(e.Tags, string(d.bytes()))
	}
	nh := d.uvarint()
	if nh > uint64(len(d.b)) {
		return nil, errCorrupt
	}
	e.Header = make(http.Header, nh)
	for i := uint64(0); i < nh && d.err == nil; i++ {
		k := string(d.bytes())
		e.Header[k] = append(e.Header[k], string(d.bytes()))
	}
	e.Body = d.bytes()
	if d.err != nil {
		return nil, d.err
	}
	return e.parsed().sealed(), nil
}
