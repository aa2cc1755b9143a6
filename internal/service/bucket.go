package service

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/usher-lb/usher/internal/observe"
)

// Bucket sends each user of a weighted service to one arm, chosen by a
// stable key (a cookie, a header, a token claim, the client's address) with
// weighted rendezvous hashing: every arm scores the key, weight/-ln(hash),
// and the highest score wins. The choice depends only on the key, the arms'
// names and their weights, so it is the same on every request, across
// reloads and restarts and on every usher instance; when a weight changes,
// only the users that the change must move (to the arm that grew, from the
// arm that shrank) change arm. An arm with no available server is skipped
// for the next best, which each user takes back once the arm recovers.
//
// A request without the key (no such cookie, header or claim) is bucketed by
// its client address instead.
type Bucket struct {
	kind  byte // 'c' cookie, 'h' header, 'j' claim, 'i' client IP
	name  string
	seeds []uint64 // per arm, from its name
}

// NewBucket returns the bucketing by spec (cookie:NAME, header:NAME,
// claim:NAME or clientIP) over arms of these names.
func NewBucket(spec string, arms []string) (*Bucket, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	b := &Bucket{name: arg}
	switch {
	case spec == "clientIP":
		b.kind = 'i'
	case kind == "cookie" && arg != "":
		b.kind = 'c'
	case kind == "header" && arg != "":
		b.kind, b.name = 'h', http.CanonicalHeaderKey(arg)
	case kind == "claim" && arg != "":
		b.kind = 'j'
	default:
		return nil, fmt.Errorf("unknown bucketBy %q: cookie:NAME, header:NAME, claim:NAME or clientIP", spec)
	}
	seen := map[string]int{}
	for _, n := range arms {
		// The same service listed twice is two arms; each its own seed.
		k := n
		if c := seen[n]; c > 0 {
			k = n + "#" + strconv.Itoa(c)
		}
		seen[n]++
		b.seeds = append(b.seeds, mix64(fnv64(fnvOffset, k)))
	}
	return b, nil
}

// Arm returns the arm a key goes to under weights, every arm available; -1
// when every weight is 0. It is what serving does for a request with that key.
func (b *Bucket) Arm(key string, weights []int) int {
	return b.choose(fnv64(fnvOffset, key), weights, func(int) bool { return true })
}

func (b *Bucket) pick(w http.ResponseWriter, r *http.Request, weights []int, arms []Arm) int {
	return b.choose(b.keyHash(w, r), weights, func(i int) bool { return arms[i].Handler.Available() })
}

func (b *Bucket) choose(h uint64, weights []int, ok func(int) bool) int {
	best, bestScore := -1, 0.0
	for i, seed := range b.seeds {
		if weights[i] <= 0 || !ok(i) {
			continue
		}
		// u in (0, 1); -ln(u) is an exponential draw, and weight over it is
		// the weighted rendezvous score (Schindelhauer and Schomaker).
		u := (float64(mix64(h^seed)>>11) + 0.5) / (1 << 53)
		score := float64(weights[i]) / -math.Log(u)
		if best < 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// keyHash hashes the request's key, or its client address when it has none.
func (b *Bucket) keyHash(w http.ResponseWriter, r *http.Request) uint64 {
	switch b.kind {
	case 'c':
		if v, ok := cookieValue(r.Header["Cookie"], b.name); ok {
			return fnv64(fnvOffset, v)
		}
	case 'h':
		if v := r.Header[b.name]; len(v) > 0 && v[0] != "" {
			return fnv64(fnvOffset, v[0])
		}
	case 'j':
		if rec := observe.From(w); rec != nil && rec.Identity != nil {
			if s := claimString(rec.Identity.Claims[b.name]); s != "" {
				return fnv64(fnvOffset, s)
			}
		}
	}
	return fnv64(fnvOffset^'i', clientAddr(w, r))
}

// cookieValue finds a cookie in Cookie headers without parsing them all.
func cookieValue(lines []string, name string) (string, bool) {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			v = strings.Trim(v, `"`)
			if v != "" {
				return v, true
			}
		}
	}
	return "", false
}

func claimString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// clientAddr is the client's address as usher computed it (after the
// entrypoint's trustedProxies), else the connection's peer.
func clientAddr(w http.ResponseWriter, r *http.Request) string {
	if rec := observe.From(w); rec != nil && rec.ClientIP.IsValid() {
		return rec.ClientIP.String()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv64(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix64 is splitmix64's finalizer: FNV alone leaves similar keys close.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
