package config

import (
	"fmt"
	"net/http"

	"github.com/usher-lb/usher/internal/wire"
)

// mirrorCompare checks what a mirror service compares of its mirrors'
// responses.
func (v *validator) mirrorCompare(p string, c *MirrorCompare) {
	if c.Status != nil && !*c.Status && c.Body != nil && !*c.Body && len(c.Headers) == 0 {
		v.add(p, "compares nothing: status and body are false and no headers are named; remove compare or set one")
	}
	seen := map[string]int{}
	for i, h := range c.Headers {
		hp := fmt.Sprintf("%s.headers[%d]", p, i)
		if !isToken(h) {
			v.add(hp, "%q is not a valid header name", clip(h))
			continue
		}
		k := http.CanonicalHeaderKey(h)
		switch {
		case k == "Content-Length" || k == "Transfer-Encoding":
			v.add(hp, "%s is the framing of the body, set by each hop; compare the body instead (body: true)", k)
			continue
		case wire.IsHopByHop(k):
			v.add(hp, "%s is hop-by-hop: it never reaches the client, so it is not compared", k)
			continue
		}
		if j, dup := seen[k]; dup {
			v.add(hp, "%s is named twice (also headers[%d])", k, j)
			continue
		}
		seen[k] = i
	}
	if c.MaxBodySize < 0 {
		v.add(p+".maxBodySize", "must be 0 or more, got %d", c.MaxBodySize)
	}
}
