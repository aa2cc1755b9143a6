package apikey

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/middleware/internal/reqkey"
	"github.com/usher-lb/usher/internal/observe"
)

func sum(k string) string { s := sha256.Sum256([]byte(k)); return hex.EncodeToString(s[:]) }

func TestAPIKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	os.WriteFile(file, []byte("# ci keys\n\nci:"+strings.ToUpper(sum("ci-key-0123456789"))+"\n"), 0o600)
	var log bytes.Buffer
	ctx := env.With(context.Background(), env.New(env.Config{Log: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))}, nil))
	var got http.Header
	var query, keyID string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, query, keyID = r.Header.Clone(), r.URL.RawQuery, reqkey.APIKeyID(r)
	})
	h, err := New(ctx, next, &config.APIKey{
		Query: "api_key", IDHeader: "X-Api-Key-Id", KeysFile: file,
		Keys: []config.APIKeyEntry{{ID: "mobile", SHA256: sum("mobile-key-0123456789")}},
	}, "keys")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, target, header, id string
		status                   int
	}{
		{"header", "/x", "mobile-key-0123456789", "mobile", 200},
		{"from the file", "/x", "ci-key-0123456789", "ci", 200},
		{"query", "/x?a=1&api_key=mobile-key-0123456789&b=2", "", "mobile", 200},
		{"query escaped", "/x?api%5Fkey=ci%2Dkey%2D0123456789", "", "ci", 200},
		{"header first", "/x?api_key=wrong", "ci-key-0123456789", "ci", 200},
		{"none", "/x", "", "", 401},
		{"unknown", "/x", "mobile-key-012345678", "", 401},
		{"the hash itself", "/x", sum("mobile-key-0123456789"), "", 401},
		{"unknown in the query", "/x?api_key=nope", "", "", 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, query, keyID = nil, "", ""
			r := httptest.NewRequest("GET", tt.target, nil)
			if tt.header != "" {
				r.Header.Set("X-Api-Key", tt.header)
			}
			r.Header.Set("X-Api-Key-Id", "forged")
			w := httptest.NewRecorder()
			rw := observe.NewRecorder(w)
			h.ServeHTTP(rw, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if tt.status != 200 {
				if w.Header().Get("WWW-Authenticate") != `ApiKey header="X-Api-Key"` || rw.Rec.Identity != nil || got != nil {
					t.Fatalf("refusal: %q %+v, reached the server %v", w.Header().Get("WWW-Authenticate"), rw.Rec.Identity, got != nil)
				}
				return
			}
			if got.Get("X-Api-Key") != "" || strings.Contains(query, "api") {
				t.Fatalf("the key went on: %q %q", got.Get("X-Api-Key"), query)
			}
			if v := got.Values("X-Api-Key-Id"); len(v) != 1 || v[0] != tt.id || keyID != tt.id || rw.Rec.Identity.Name() != tt.id {
				t.Fatalf("id header %q, reqkey %q, identity %+v; want %s", v, keyID, rw.Rec.Identity, tt.id)
			}
		})
	}
	if strings.Contains(log.String(), "key-0123456789") {
		t.Fatalf("a key in the log:\n%s", log.String())
	}
}

func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("no colon here\n"), 0o600)
	for _, cfg := range []*config.APIKey{
		{},
		{Keys: []config.APIKeyEntry{{ID: "a", SHA256: "abc"}}},
		{Keys: []config.APIKeyEntry{{ID: "", SHA256: sum("x")}}},
		{Keys: []config.APIKeyEntry{{ID: "a", SHA256: sum("x")}, {ID: "b", SHA256: sum("x")}}},
		{Keys: []config.APIKeyEntry{{ID: "a", SHA256: sum("x")}, {ID: "a", SHA256: sum("y")}}},
		{Keys: []config.APIKeyEntry{{ID: "a", SHA256: sum("x")}}, IDHeader: "x-api-key"},
		{KeysFile: bad},
		{KeysFile: filepath.Join(dir, "none")},
	} {
		if _, err := New(context.Background(), http.NotFoundHandler(), cfg, "m"); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
