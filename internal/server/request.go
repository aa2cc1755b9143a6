package server

import (
	"io"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/usher-lb/usher/internal/wire"
)

// connUpgrade is the Connection of an upgrade request once the entrypoint has
// cleaned it: shared by every such request, read-only, capacity one.
var connUpgrade = []string{"Upgrade"}[:1:1]

// dropConnectionFields removes the fields a client names in Connection, then
// Connection itself, before usher and its middlewares add theirs: a client
// that sends `Connection: X-Forwarded-For` makes the field hop-by-hop, which
// must strip its own copy, never the one usher sets afterwards (the Traefik
// CVE-2024-45410 class). An upgrade request keeps `Connection: Upgrade` and
// its Upgrade field, which the proxy needs to switch protocols; the other
// names in its Connection go as for any request.
//
// It allocates only for a name that is not in canonical form; "close" and
// "keep-alive", which browsers send, never.
func dropConnectionFields(h http.Header) {
	conn, ok := h["Connection"]
	if !ok {
		return
	}
	up := h["Upgrade"]
	upgrade := len(up) > 0 && up[0] != "" && wire.HasToken(conn, "upgrade")
	for _, v := range conn {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			tok = wire.TrimOWSString(tok)
			switch {
			case tok == "", strings.EqualFold(tok, "close"):
			case strings.EqualFold(tok, "keep-alive"):
				delete(h, "Keep-Alive")
			case strings.EqualFold(tok, "upgrade"):
				if !upgrade {
					delete(h, "Upgrade")
				}
			case wire.ValidName(tok):
				delete(h, textproto.CanonicalMIMEHeaderKey(tok))
			}
		}
	}
	if upgrade {
		h["Connection"] = connUpgrade
	} else {
		delete(h, "Connection")
	}
}

// badRequest answers 400 with why the request is refused.
func badRequest(w http.ResponseWriter, err error) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(http.StatusBadRequest)
	io.WriteString(w, "Bad Request: "+err.Error()+"\n")
}
