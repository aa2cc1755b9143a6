package service

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"

	"github.com/usher-lb/usher/internal/pool"
)

// Sticky is a sticky-session cookie: it pins a client to a server (or, on a
// weighted service, to one of its services). The cookie holds an opaque id, an
// HMAC of the service and server under Key: it never reveals an address, and a
// forged or stale value matches nothing and is ignored.
type Sticky struct {
	Name     string
	Secure   bool
	HTTPOnly bool
	SameSite http.SameSite
	MaxAge   int
	Path     string
	Domain   string
	Key      []byte
}

// stickyIDs maps ids to indexes of a fixed list (servers or arms) and back.
type stickyIDs struct {
	cfg  *Sticky
	byID map[string]int
	ids  []string
}

func newStickyIDs(cfg *Sticky, service string, names []string) *stickyIDs {
	x := &stickyIDs{cfg: cfg, byID: make(map[string]int, len(names)), ids: make([]string, len(names))}
	for i, n := range names {
		m := hmac.New(sha256.New, cfg.Key)
		m.Write([]byte(service + "\x00" + n))
		id := base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:22]
		x.ids[i] = id
		x.byID[id] = i
	}
	return x
}

// index returns the index the request's cookie pins, or -1.
func (x *stickyIDs) index(r *http.Request) int {
	c, err := r.Cookie(x.cfg.Name)
	if err != nil {
		return -1
	}
	if i, ok := x.byID[c.Value]; ok {
		return i
	}
	return -1
}

// set pins the client to index i.
func (x *stickyIDs) set(w http.ResponseWriter, i int) {
	c := &http.Cookie{
		Name:     x.cfg.Name,
		Value:    x.ids[i],
		Path:     x.cfg.Path,
		Domain:   x.cfg.Domain,
		MaxAge:   x.cfg.MaxAge,
		Secure:   x.cfg.Secure,
		HttpOnly: x.cfg.HTTPOnly,
		SameSite: x.cfg.SameSite,
	}
	if v := c.String(); v != "" {
		w.Header().Add("Set-Cookie", v)
	}
}

// stickyIndex pins clients to servers of a load balancer.
type stickyIndex struct {
	*stickyIDs
	servers []*pool.Server
	pos     map[*pool.Server]int
}

func newStickyIndex(cfg *Sticky, service string, servers []*pool.Server) *stickyIndex {
	names := make([]string, len(servers))
	pos := make(map[*pool.Server]int, len(servers))
	for i, s := range servers {
		names[i] = s.URL.String()
		pos[s] = i
	}
	return &stickyIndex{stickyIDs: newStickyIDs(cfg, service, names), servers: servers, pos: pos}
}

// pinned returns the server the request's cookie pins, when it can take the
// request; a pin to a server that is down, ejected or drained is dropped, and
// the client will be pinned anew.
func (x *stickyIndex) pinned(r *http.Request) *pool.Server {
	if i := x.index(r); i >= 0 && x.servers[i].Available() {
		return x.servers[i]
	}
	return nil
}

func (x *stickyIndex) set(w http.ResponseWriter, s *pool.Server) {
	x.stickyIDs.set(w, x.pos[s])
}
