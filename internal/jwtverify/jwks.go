package jwtverify

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The JWK Set's timing, when JWKSOptions leave it out.
const (
	// DefaultRefresh is how often the set is fetched again when its answer
	// has no Cache-Control max-age.
	DefaultRefresh = 5 * time.Minute
	// MinRefetch is the least time between two fetches: the background
	// refresh is never sooner (whatever max-age says), and a token with a
	// kid the set lacks asks for the set again only when the last fetch is
	// older. A flood of tokens with made-up kids makes at most one fetch
	// per MinRefetch.
	MinRefetch = 30 * time.Second
	// MaxRefresh caps a long max-age: keys a provider withdraws are
	// dropped within it.
	MaxRefresh = 24 * time.Hour
	// FetchTimeout bounds one fetch, from dialling to the last byte.
	FetchTimeout = 10 * time.Second
	// MaxJWKSBytes bounds the set's size.
	MaxJWKSBytes = 1 << 20
)

// JWKSOptions tune a JWKS; zero fields take the defaults above.
type JWKSOptions struct {
	Client     *http.Client // nil: one of its own, bounded by FetchTimeout
	Log        *slog.Logger // fetch failures at warn, never a key
	Refresh    time.Duration
	MinRefetch time.Duration
	Now        func() time.Time // tests
}

// JWKS is the keys of a JWK Set URL: fetched in the background at start,
// again when its Cache-Control max-age runs out (DefaultRefresh without
// one, within MinRefetch and MaxRefresh), after a failure (with a backoff
// from MinRefetch up to DefaultRefresh, keeping the keys it had), and on
// demand for a kid it lacks (at most once per MinRefetch). It is safe for
// concurrent use; Stop ends its goroutine.
type JWKS struct {
	url, shown string
	client     *http.Client
	log        *slog.Logger
	refresh    time.Duration
	minRefetch time.Duration
	now        func() time.Time

	set   atomic.Pointer[keySet] // nil until a fetch succeeded
	ready chan struct{}          // closed when the first fetch ended, well or not
	gen   atomic.Uint64

	mu        sync.Mutex
	last      time.Time     // when the last fetch started
	inflight  chan struct{} // closed when the fetch under way ends; nil: none
	next      time.Duration // when to fetch again, from the last fetch's outcome
	failures  int
	readyOnce sync.Once

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

type keySet struct {
	keys []Key
	kids map[string]bool
	gen  uint64
	sum  [sha256.Size]byte // of the set as fetched
}

func (s *keySet) has(kid string) bool { return s.kids[kid] }

// NewJWKS starts fetching the JWK Set at rawURL (http or https).
func NewJWKS(rawURL string, o JWKSOptions) (*JWKS, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("the JWKS URL is not an http:// or https:// URL with a host")
	}
	j := &JWKS{
		url: rawURL, shown: u.Redacted(), client: o.Client, log: o.Log,
		refresh: o.Refresh, minRefetch: o.MinRefetch, now: o.Now,
		ready: make(chan struct{}), done: make(chan struct{}),
	}
	if j.client == nil {
		j.client = Client(nil)
	}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	if j.refresh <= 0 {
		j.refresh = DefaultRefresh
	}
	if j.minRefetch <= 0 {
		j.minRefetch = MinRefetch
	}
	if j.now == nil {
		j.now = time.Now
	}
	j.ctx, j.cancel = context.WithCancel(context.Background())
	go j.loop()
	return j, nil
}

// Client is an HTTP client fit to fetch a JWK Set: bounded by
// FetchTimeout, few idle connections, the environment's proxy, tc for TLS
// (nil: the system's roots).
func Client(tc *tls.Config) *http.Client {
	return &http.Client{Timeout: FetchTimeout, Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, TLSClientConfig: tc, ForceAttemptHTTP2: true,
		MaxIdleConns: 2, IdleConnTimeout: time.Minute,
		TLSHandshakeTimeout: FetchTimeout, ResponseHeaderTimeout: FetchTimeout,
	}}
}

// Stop ends the background refresh and any fetch under way, and waits for
// them.
func (j *JWKS) Stop() {
	j.cancel()
	<-j.done
	j.mu.Lock()
	ch := j.inflight
	j.mu.Unlock()
	if ch != nil {
		<-ch
	}
	if t, ok := j.client.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// URL is the set's address, its user:password@ hidden.
func (j *JWKS) URL() string { return j.shown }

func (j *JWKS) generation() uint64 { return j.gen.Load() }

func (j *JWKS) loop() {
	defer close(j.done)
	for j.ctx.Err() == nil {
		if ch, _ := j.start(false); ch != nil {
			select {
			case <-ch:
			case <-j.ctx.Done():
				return
			}
		}
		j.mu.Lock()
		wait := j.next
		j.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-j.ctx.Done():
			t.Stop()
			return
		}
	}
}

// start begins a fetch unless one is under way (then it returns that
// one's channel) or, when limited, the last began less than minRefetch
// ago (then nil, false).
func (j *JWKS) start(limited bool) (<-chan struct{}, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.inflight != nil {
		return j.inflight, true
	}
	now := j.now()
	if limited && !j.last.IsZero() && now.Sub(j.last) < j.minRefetch {
		return nil, false
	}
	if j.ctx.Err() != nil {
		return nil, false
	}
	j.last = now
	ch := make(chan struct{})
	j.inflight = ch
	go func() {
		next := j.fetch()
		j.mu.Lock()
		j.inflight, j.next = nil, next
		j.mu.Unlock()
		j.readyOnce.Do(func() { close(j.ready) })
		close(ch)
	}()
	return ch, true
}

// current returns the keys, waiting (within ctx) for the first fetch when
// it has not ended yet.
func (j *JWKS) current(ctx context.Context) (*keySet, error) {
	if s := j.set.Load(); s != nil {
		return s, nil
	}
	select {
	case <-j.ready:
	case <-ctx.Done():
	}
	if s := j.set.Load(); s != nil {
		return s, nil
	}
	// Every fetch so far failed: try again now rather than at the next
	// background attempt, as for an unknown kid (at most every minRefetch),
	// so that a provider back up is used at once.
	if ch, ok := j.start(true); ok {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	if s := j.set.Load(); s != nil {
		return s, nil
	}
	return nil, &Error{Reason: "the keys to verify the token could not be fetched", Unavailable: true}
}

// refetch fetches the set again for a kid that seen (the keys the caller
// looked in) lacks, if the last fetch is at least minRefetch old, and
// returns the keys then; nil when no fetch was made or it failed. Keys
// newer than seen are returned without a fetch.
func (j *JWKS) refetch(ctx context.Context, seen *keySet) *keySet {
	if s := j.set.Load(); s != seen {
		return s
	}
	ch, ok := j.start(true)
	if !ok {
		return nil
	}
	select {
	case <-ch:
	case <-ctx.Done():
		return nil
	}
	if s := j.set.Load(); s != seen {
		return s
	}
	return nil
}

// fetch gets the set once and returns when to fetch it next.
func (j *JWKS) fetch() time.Duration {
	keys, sum, maxAge, err := j.get()
	if err != nil {
		j.mu.Lock()
		j.failures++
		n := j.failures
		j.mu.Unlock()
		if j.ctx.Err() == nil {
			j.log.Warn("jwt: cannot fetch the JWK Set; keeping the keys had before", "url", j.shown, "error", err.Error(), "failures", n)
		}
		back := j.minRefetch << min(n-1, 8)
		return min(back, max(j.refresh, j.minRefetch))
	}
	j.mu.Lock()
	j.failures = 0
	j.mu.Unlock()
	// The same set again keeps its generation: what callers kept for it
	// (the jwt middleware's verifications) stays good.
	if old := j.set.Load(); old == nil || old.sum != sum {
		s := &keySet{keys: keys, kids: map[string]bool{}, gen: j.gen.Add(1), sum: sum}
		for _, k := range keys {
			if k.ID != "" {
				s.kids[k.ID] = true
			}
		}
		j.set.Store(s)
	}
	next := j.refresh
	if maxAge >= 0 {
		next = time.Duration(maxAge) * time.Second
	}
	return min(max(next, j.minRefetch), MaxRefresh)
}

func (j *JWKS) get() ([]Key, [sha256.Size]byte, int64, error) {
	var sum [sha256.Size]byte
	ctx, cancel := context.WithTimeout(j.ctx, FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, sum, 0, errors.New("bad URL")
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the log line already, redacted
		}
		return nil, sum, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, sum, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, sum, 0, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > MaxJWKSBytes {
		return nil, sum, 0, fmt.Errorf("the answer is over %d bytes", MaxJWKSBytes)
	}
	keys, skipped, err := ParseJWKS(body)
	if err != nil {
		return nil, sum, 0, err
	}
	if skipped > 0 {
		j.log.Debug("jwt: keys of the JWK Set skipped (not signing keys, or of a kind not supported)", "url", j.shown, "skipped", skipped)
	}
	return keys, sha256.Sum256(body), maxAge(resp.Header.Values("Cache-Control")), nil
}

// maxAge is the max-age of Cache-Control in seconds; 0 for no-store or
// no-cache (fetch as soon as allowed), -1 when it says nothing.
func maxAge(values []string) int64 {
	age := int64(-1)
	for _, v := range values {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.TrimSpace(d)
			name, val, _ := strings.Cut(d, "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 {
					age = n
				}
			}
		}
	}
	return age
}
