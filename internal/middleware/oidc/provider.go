package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/usher-lb/usher/internal/jwtverify"
)

// discoveryRetry is the longest wait between two reads of the discovery
// document after failures.
const discoveryRetry = 30 * time.Second

// maxBody bounds what usher reads of the provider's answers.
const maxBody = 1 << 20

// discovery is what usher uses of the provider's metadata (OpenID Connect
// Discovery 1.0 §3).
type discovery struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	IDTokenAlgs           []string `json:"id_token_signing_alg_values_supported"`
	TokenAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
}

// provider is one OpenID provider as a client (clientID) sees it: its
// discovery document, read once it can be, and a verifier of its ID tokens
// on its JWK Set (kept fresh by jwtverify.JWKS). It lasts across reloads
// (env.Keep, by issuer, client and TLS); Stop ends its goroutines.
type provider struct {
	issuer   string // as configured
	clientID string
	client   *http.Client
	log      *slog.Logger
	now      func() time.Time

	mu       sync.Mutex
	doc      *discovery
	v        *jwtverify.Verifier
	jwks     *jwtverify.JWKS
	lastTry  time.Time
	lastErr  error
	failures int

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newProvider(issuer, clientID string, client *http.Client, log *slog.Logger) *provider {
	p := &provider{issuer: issuer, clientID: clientID, client: client, log: log, now: time.Now}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	// Read the discovery document now, so that the first login does not
	// wait for it; a failure is logged and tried again when needed.
	p.wg.Go(func() { p.get() })
	return p
}

// Stop ends the discovery under way and the JWK Set's refresh.
func (p *provider) Stop() {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	j := p.jwks
	p.mu.Unlock()
	if j != nil {
		j.Stop()
	}
	if t, ok := p.client.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// errUnavailable is a provider that could not be reached or answered
// nonsense: usher's or the provider's failure, not the client's.
type errUnavailable struct{ err error }

func (e *errUnavailable) Error() string { return e.err.Error() }
func (e *errUnavailable) Unwrap() error { return e.err }

func unavailable(format string, args ...any) error {
	return &errUnavailable{fmt.Errorf(format, args...)}
}

// get returns the discovery document and the ID token verifier, reading the
// document when it has not been read yet (after failures, not sooner than
// retry says). The read is bounded by the provider's context, not a
// request's: a client that goes away must not leave a failure that the
// next requests wait out.
func (p *provider) get() (*discovery, *jwtverify.Verifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.doc != nil {
		return p.doc, p.v, nil
	}
	if !p.lastTry.IsZero() && p.now().Sub(p.lastTry) < p.retry() {
		return nil, nil, p.lastErr
	}
	p.lastTry = p.now()
	doc, err := p.discover(p.ctx)
	if err == nil {
		var algs []string
		for _, a := range doc.IDTokenAlgs {
			// An HMAC ID token is signed with the client secret; usher
			// verifies only the provider's public keys.
			if jwtverify.KnownAlgorithm(a) && !strings.HasPrefix(a, "HS") {
				algs = append(algs, a)
			}
		}
		if len(algs) == 0 {
			algs = []string{"RS256"} // the one every provider must offer (Discovery §3)
		}
		var jwks *jwtverify.JWKS
		jwks, err = jwtverify.NewJWKS(doc.JWKSURI, jwtverify.JWKSOptions{Client: p.client, Log: p.log})
		if err == nil {
			var v *jwtverify.Verifier
			v, err = jwtverify.New(jwtverify.Options{
				JWKS: jwks, Algorithms: algs, Issuer: doc.Issuer, Audience: []string{p.clientID},
				Leeway: 30 * time.Second, Now: func() time.Time { return p.now() },
			})
			if err == nil {
				p.doc, p.v, p.jwks, p.lastErr = doc, v, jwks, nil
				return doc, v, nil
			}
			jwks.Stop()
		}
		err = unavailable("the discovery document's keys: %v", err)
	}
	p.failures++
	if p.ctx.Err() == nil {
		p.log.Warn("oidc: cannot read the provider's discovery document", "issuer", p.issuer, "error", err.Error())
	}
	p.lastErr = err
	return nil, nil, err
}

// retry is the wait after the failures so far: 1 s, doubled up to
// discoveryRetry, so that a provider starting beside usher is found soon
// and one that is down is not flooded.
func (p *provider) retry() time.Duration {
	if p.failures >= 5 {
		return discoveryRetry
	}
	return min(discoveryRetry, time.Second<<p.failures)
}

// discover reads and checks the discovery document.
func (p *provider) discover(ctx context.Context) (*discovery, error) {
	u := strings.TrimSuffix(p.issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, unavailable("discovery: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	var doc discovery
	if err := p.doJSON(req, &doc); err != nil {
		return nil, err
	}
	// The issuer of the document must be the one configured (§4.3), so
	// that another provider's document cannot pass for it; a trailing
	// slash is the only difference allowed, and ID tokens are then checked
	// against the document's spelling.
	if strings.TrimSuffix(doc.Issuer, "/") != strings.TrimSuffix(p.issuer, "/") {
		return nil, unavailable("discovery: the document is for issuer %q, not %q", doc.Issuer, p.issuer)
	}
	for _, e := range []struct{ name, u string }{
		{"authorization_endpoint", doc.AuthorizationEndpoint},
		{"token_endpoint", doc.TokenEndpoint},
		{"jwks_uri", doc.JWKSURI},
	} {
		if !httpURL(e.u) {
			return nil, unavailable("discovery: %s is missing or not an http(s) URL", e.name)
		}
	}
	if doc.UserinfoEndpoint != "" && !httpURL(doc.UserinfoEndpoint) {
		doc.UserinfoEndpoint = ""
	}
	if doc.EndSessionEndpoint != "" && !httpURL(doc.EndSessionEndpoint) {
		doc.EndSessionEndpoint = ""
	}
	if len(doc.CodeChallengeMethods) > 0 && !slices.Contains(doc.CodeChallengeMethods, "S256") {
		p.log.Warn("oidc: the provider does not list PKCE S256 among its code_challenge_methods_supported; usher sends it anyway", "issuer", p.issuer)
	}
	return &doc, nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// doJSON sends req and decodes a 200 answer's JSON body into v.
func (p *provider) doJSON(req *http.Request, v any) error {
	resp, err := p.client.Do(req)
	if err != nil {
		return unavailable("%s %s: %v", req.Method, redacted(req.URL), cause(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return unavailable("%s %s: reading the answer: %v", req.Method, redacted(req.URL), err)
	}
	if len(body) > maxBody {
		return unavailable("%s %s: the answer is larger than %d bytes", req.Method, redacted(req.URL), maxBody)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(body, &e)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && e.Error != "" {
			return &refusedError{status: resp.StatusCode, code: clip(e.Error, 64)}
		}
		return unavailable("%s %s: status %d", req.Method, redacted(req.URL), resp.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return unavailable("%s %s: the answer is not JSON: %v", req.Method, redacted(req.URL), err)
	}
	return nil
}

// refusedError is an OAuth error answer (RFC 6749 §5.2): the provider
// understood and said no (a code used twice, a revoked refresh token).
type refusedError struct {
	status int
	code   string // the error code, e.g. invalid_grant; never the description
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("the provider refused: %s (status %d)", e.code, e.status)
}

// cause is an error of the HTTP client without the URL it quotes (a URL
// may carry a code or a token).
func cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func redacted(u *url.URL) string {
	c := *u
	c.RawQuery, c.ForceQuery, c.Fragment = "", false, ""
	return c.Redacted()
}

func clip(s string, n int) string {
	b := []byte(s)
	if len(b) > n {
		b = b[:n]
	}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// tokens is the token endpoint's answer (RFC 6749 §5.1, OIDC Core §3.1.3.3).
type tokens struct {
	AccessToken  string      `json:"access_token"`
	TokenType    string      `json:"token_type"`
	ExpiresIn    json.Number `json:"expires_in"`
	RefreshToken string      `json:"refresh_token"`
	IDToken      string      `json:"id_token"`
}

// expiresIn is how long the access token lasts, 0 when the provider did
// not say.
func (t *tokens) expiresIn() time.Duration {
	if t.ExpiresIn == "" {
		return 0
	}
	n, err := strconv.ParseFloat(string(t.ExpiresIn), 64)
	if err != nil || n <= 0 || n > 1e9 {
		return 0
	}
	return time.Duration(n * float64(time.Second))
}

// clientAuth is how the client proves itself at the token endpoint.
type clientAuth struct {
	id, secret string
	post       bool // client_secret_post; else client_secret_basic (or none without a secret)
}

// token asks the token endpoint for tokens with form (a grant).
func (p *provider) token(ctx context.Context, doc *discovery, ca *clientAuth, form url.Values) (*tokens, error) {
	switch {
	case ca.secret == "":
		form.Set("client_id", ca.id) // a public client: PKCE proves it
	case ca.post:
		form.Set("client_id", ca.id)
		form.Set("client_secret", ca.secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, doc.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, unavailable("token endpoint: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if ca.secret != "" && !ca.post {
		// RFC 6749 §2.3.1: each form-encoded before they are joined.
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
			[]byte(url.QueryEscape(ca.id)+":"+url.QueryEscape(ca.secret))))
	}
	var t tokens
	if err := p.doJSON(req, &t); err != nil {
		return nil, err
	}
	if t.AccessToken == "" {
		return nil, unavailable("token endpoint: the answer has no access_token")
	}
	return &t, nil
}

// userinfo reads the claims of the userinfo endpoint with an access token.
func (p *provider) userinfo(ctx context.Context, doc *discovery, accessToken string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, doc.UserinfoEndpoint, nil)
	if err != nil {
		return nil, unavailable("userinfo: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	var c map[string]any
	if err := p.doJSON(req, &c); err != nil {
		return nil, err
	}
	return c, nil
}
