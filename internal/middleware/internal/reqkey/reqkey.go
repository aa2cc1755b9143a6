// Package reqkey carries, on a request's context, what an auth middleware
// established about the client that a later middleware keys on: the claims
// of a verified token (rateLimit's key: claim:NAME) and the id of an API key.
// Values are set once, by the middleware that let the request through, and
// read-only afterwards.
package reqkey

import (
	"context"
	"net/http"
)

type claimsKey struct{}

type apiKeyIDKey struct{}

// WithClaims returns r with claims on its context. claims must not change
// afterwards: they may be shared by many requests.
func WithClaims(r *http.Request, claims map[string]any) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), claimsKey{}, claims))
}

// Claims returns the claims set by WithClaims, nil when none were.
func Claims(r *http.Request) map[string]any {
	c, _ := r.Context().Value(claimsKey{}).(map[string]any)
	return c
}

// WithAPIKeyID returns r with the id of the API key it presented (never the
// key itself) on its context.
func WithAPIKeyID(r *http.Request, id string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), apiKeyIDKey{}, id))
}

// APIKeyID returns the id set by WithAPIKeyID, "" when none was.
func APIKeyID(r *http.Request) string {
	id, _ := r.Context().Value(apiKeyIDKey{}).(string)
	return id
}
