// Package apikey implements the apiKey middleware: a request goes on only
// with one of the configured API keys, in a header or a query parameter.
// usher knows the keys only by their SHA-256: the configuration and the
// keys file never hold a key, and a presented key is hashed and looked up
// by its hash (the lookup's timing can tell nothing but about hashes,
// which an attacker cannot steer to a key's). The key is removed from the
// request; the server gets the key's id instead, in idHeader, and so do
// the access log and later middlewares (reqkey.APIKeyID).
package apikey

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/middleware/internal/reqkey"
	"github.com/usher-lb/usher/internal/observe"
)

// kind is the middleware's key in the configuration.
const kind = "apiKey"

type apiKey struct {
	next      http.Handler
	header    string // canonical
	query     string // "": none
	idHeader  string // canonical; "": none
	keys      map[[sha256.Size]byte]*key
	challenge string
	dec       *env.Decisions
	log       *slog.Logger
}

type key struct {
	id       string
	idValues []string // {id}, shared by the requests with this key
	identity *observe.Identity
}

// maxKeysFile bounds the keys file.
const maxKeysFile = 16 << 20

// New returns the apiKey middleware named name around next.
func New(ctx context.Context, next http.Handler, cfg *config.APIKey, name string) (http.Handler, error) {
	e := env.From(ctx)
	a := &apiKey{
		next: next, header: http.CanonicalHeaderKey(cfg.Header), query: cfg.Query,
		keys: map[[sha256.Size]byte]*key{},
		dec:  e.Decisions(kind, name), log: e.Log.With("middleware", name, "kind", kind),
	}
	if cfg.Header == "" {
		a.header = config.APIKeyHeader
	}
	if cfg.IDHeader != "" {
		a.idHeader = http.CanonicalHeaderKey(cfg.IDHeader)
		if a.idHeader == a.header {
			return nil, errors.New("apiKey: idHeader cannot be the header the key comes in")
		}
	}
	a.challenge = `ApiKey header="` + a.header + `"`
	add := func(where, id, sum string) error {
		if msg := config.APIKeyIDProblem(id); msg != "" {
			return fmt.Errorf("apiKey: %s: %s", where, msg)
		}
		b, err := hex.DecodeString(strings.ToLower(sum))
		if err != nil || len(b) != sha256.Size {
			return fmt.Errorf("apiKey: %s: the sha256 is not 64 hex digits", where)
		}
		h := [sha256.Size]byte(b)
		if old, dup := a.keys[h]; dup {
			return fmt.Errorf("apiKey: %s: key %q has the same hash as key %q", where, id, old.id)
		}
		for _, k := range a.keys {
			if k.id == id {
				return fmt.Errorf("apiKey: %s: the id %q is taken", where, id)
			}
		}
		a.keys[h] = &key{id: id, idValues: []string{id}, identity: &observe.Identity{Middleware: name, KeyID: id}}
		return nil
	}
	for i, k := range cfg.Keys {
		if err := add(fmt.Sprintf("keys[%d]", i), k.ID, k.SHA256); err != nil {
			return nil, err
		}
	}
	if cfg.KeysFile != "" {
		if err := a.readFile(cfg.KeysFile, add); err != nil {
			return nil, err
		}
	}
	if len(a.keys) == 0 {
		return nil, errors.New("apiKey: no keys (keys or keysFile)")
	}
	return a, nil
}

// readFile adds the keys of a file of id:sha256hex lines.
func (a *apiKey) readFile(name string, add func(where, id, sum string) error) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("apiKey: keysFile: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("apiKey: keysFile: %w", err)
	}
	if st.Size() > maxKeysFile {
		return fmt.Errorf("apiKey: keysFile %s is over %d bytes", name, maxKeysFile)
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		i := bytes.LastIndexByte(line, ':')
		if i < 0 {
			return fmt.Errorf("apiKey: keysFile %s:%d: not id:sha256hex", name, n)
		}
		if err := add(fmt.Sprintf("keysFile %s:%d", name, n), string(bytes.TrimSpace(line[:i])), string(bytes.TrimSpace(line[i+1:]))); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("apiKey: keysFile %s: %w", name, err)
	}
	return nil
}

func (a *apiKey) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header == nil {
		r.Header = http.Header{}
	}
	var presented string
	if v := r.Header[a.header]; len(v) > 0 {
		presented = v[0]
		delete(r.Header, a.header)
	}
	if a.query != "" && r.URL.RawQuery != "" {
		if q := takeQuery(r, a.query); presented == "" {
			presented = q
		}
	}
	presented = strings.TrimSpace(presented)
	if presented == "" {
		a.dec.Deny()
		a.log.Debug("apiKey: no key", "path", r.URL.Path)
		a.refuse(w)
		return
	}
	k := a.keys[sha256.Sum256([]byte(presented))]
	if k == nil {
		a.dec.Deny()
		a.log.Debug("apiKey: unknown key", "path", r.URL.Path)
		a.refuse(w)
		return
	}
	a.dec.Allow()
	if a.idHeader != "" {
		r.Header[a.idHeader] = k.idValues
	}
	if rec := observe.From(w); rec != nil {
		rec.Identity = k.identity
	}
	a.next.ServeHTTP(w, reqkey.WithAPIKeyID(r, k.id))
}

// takeQuery removes the parameter name from the request's query, keeping
// the rest as the client wrote it, and returns its first value.
func takeQuery(r *http.Request, name string) string {
	var kept []string
	first, found := "", false
	for part := range strings.SplitSeq(r.URL.RawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); (err == nil && uk == name) || k == name {
			if !found {
				first, _ = url.QueryUnescape(v)
				found = true
			}
			continue
		}
		kept = append(kept, part)
	}
	if found {
		r.URL.RawQuery = strings.Join(slices.Clip(kept), "&")
	}
	return first
}

var unauthorized = []byte("401 Unauthorized\n")

func (a *apiKey) refuse(w http.ResponseWriter) {
	h := w.Header()
	h["Www-Authenticate"] = []string{a.challenge}
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusUnauthorized)
	w.Write(unauthorized)
}
