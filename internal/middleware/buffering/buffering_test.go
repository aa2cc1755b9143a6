package buffering

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/usher-lb/usher/internal/config"
)

// seen is what next saw of a request, read while it ran.
type seen struct {
	called        bool
	body, replay  string
	replay2       string
	contentLength int64
	te            []string
	bodyType      string
	getBodyErr    error
	getBody       func() (io.ReadCloser, error)
}

func recordNext(s *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.called = true
		s.contentLength, s.te, s.getBody = r.ContentLength, r.TransferEncoding, r.GetBody
		switch r.Body.(type) {
		case memBody:
			s.bodyType = "memory"
		case fileBody:
			s.bodyType = "file"
		default:
			s.bodyType = "other"
		}
		b, _ := io.ReadAll(r.Body)
		s.body = string(b)
		if r.GetBody == nil {
			s.getBodyErr = errors.New("no GetBody")
			return
		}
		for _, dst := range []*string{&s.replay, &s.replay2} {
			rc, err := r.GetBody()
			if err != nil {
				s.getBodyErr = err
				return
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			*dst = string(b)
		}
		w.WriteHeader(http.StatusOK)
	})
}

// tempFiles replaces createTemp for the test and returns the names of the
// files created.
func tempFiles(t *testing.T) func() []string {
	t.Helper()
	dir := t.TempDir()
	var mu sync.Mutex
	var names []string
	old := createTemp
	createTemp = func(_, pattern string) (*os.File, error) {
		f, err := os.CreateTemp(dir, pattern)
		if err == nil {
			mu.Lock()
			names = append(names, f.Name())
			mu.Unlock()
		}
		return f, err
	}
	t.Cleanup(func() { createTemp = old })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(names)
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestBuffering(t *testing.T) {
	tests := []struct {
		name      string
		max, mem  config.ByteSize
		size      int
		chunked   bool   // unknown length
		status    int    // 200: passed to next
		where     string // memory | file
		maxReadOK int    // for 413: at most this many bytes read (-1: any)
	}{
		{"small in memory", 0, 0, 100, false, http.StatusOK, "memory", 0},
		{"small chunked in memory", 0, 0, 100, true, http.StatusOK, "memory", 0},
		{"exactly mem stays in memory", 0, 64, 64, false, http.StatusOK, "memory", 0},
		{"exactly mem chunked stays in memory", 0, 64, 64, true, http.StatusOK, "memory", 0},
		{"mem+1 spills", 0, 64, 65, false, http.StatusOK, "file", 0},
		{"mem+1 chunked spills", 0, 64, 65, true, http.StatusOK, "file", 0},
		{"large spills", 0, 1000, 200_000, false, http.StatusOK, "file", 0},
		{"large chunked spills", 0, 1000, 200_000, true, http.StatusOK, "file", 0},
		{"exactly max", 100, 0, 100, false, http.StatusOK, "memory", 0},
		{"exactly max chunked", 100, 0, 100, true, http.StatusOK, "memory", 0},
		{"exactly max from file", 10_000, 100, 10_000, true, http.StatusOK, "file", 0},
		{"over max by Content-Length, not read", 100, 0, 101, false, http.StatusRequestEntityTooLarge, "", 0},
		{"over max chunked", 100, 0, 101, true, http.StatusRequestEntityTooLarge, "", -1},
		{"far over max chunked stops reading", 1000, 0, 1 << 20, true, http.StatusRequestEntityTooLarge, "", 1001},
		{"over max by Content-Length with spill, not read", 10_000, 100, 10_001, false, http.StatusRequestEntityTooLarge, "", 0},
		{"over max chunked after spill", 10_000, 100, 50_000, true, http.StatusRequestEntityTooLarge, "", 10_000 + copyBufSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := tempFiles(t)
			var s seen
			h, err := New(t.Context(), recordNext(&s), &config.Buffering{MaxRequestBodyBytes: tt.max, MemRequestBodyBytes: tt.mem}, "b")
			if err != nil {
				t.Fatal(err)
			}
			payload := strings.Repeat("0123456789abcdef", tt.size/16+1)[:tt.size]
			src := &countingReader{r: strings.NewReader(payload)}
			r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(src))
			r.ContentLength = int64(tt.size)
			if tt.chunked {
				r.ContentLength, r.TransferEncoding = -1, []string{"chunked"}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)

			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			names := files()
			for _, n := range names {
				if _, err := os.Stat(n); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("temporary file %s left behind: %v", n, err)
				}
			}
			if tt.status != http.StatusOK {
				if s.called {
					t.Error("next was called")
				}
				if tt.maxReadOK >= 0 && src.n > tt.maxReadOK {
					t.Errorf("%d bytes read, want at most %d", src.n, tt.maxReadOK)
				}
				if !strings.HasPrefix(w.Body.String(), "413 Request Entity Too Large") {
					t.Errorf("body %q", w.Body.String())
				}
				return
			}
			if s.body != payload || s.replay != payload || s.replay2 != payload || s.getBodyErr != nil {
				t.Errorf("body %d bytes, replays %d and %d bytes (%v), want %d", len(s.body), len(s.replay), len(s.replay2), s.getBodyErr, len(payload))
			}
			if s.contentLength != int64(tt.size) || s.te != nil {
				t.Errorf("ContentLength %d TransferEncoding %q, want %d none", s.contentLength, s.te, tt.size)
			}
			if s.bodyType != tt.where {
				t.Errorf("body in %s, want %s", s.bodyType, tt.where)
			}
			if (len(names) == 1) != (tt.where == "file") || len(names) > 1 {
				t.Errorf("temporary files %q for a body in %s", names, tt.where)
			}
			if tt.where == "file" {
				// The file is closed: readers that outlive the request fail.
				rc, _ := s.getBody()
				if _, err := rc.Read(make([]byte, 1)); err == nil {
					t.Error("the body can still be read after the request")
				}
			}
		})
	}
}

func TestBufferingNoBody(t *testing.T) {
	for _, body := range []io.ReadCloser{nil, http.NoBody} {
		called := false
		h, _ := New(t.Context(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			called = true
			if r.GetBody == nil {
				t.Fatal("no GetBody")
			}
			if rc, err := r.GetBody(); rc != http.NoBody || err != nil {
				t.Errorf("GetBody: %v %v, want NoBody", rc, err)
			}
		}), &config.Buffering{MaxRequestBodyBytes: 10}, "b")
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Body = body
		h.ServeHTTP(httptest.NewRecorder(), r)
		if !called {
			t.Errorf("body %v: next not called", body)
		}
	}
}

func TestBufferingEmptyChunked(t *testing.T) {
	var s seen
	h, _ := New(t.Context(), recordNext(&s), &config.Buffering{}, "b")
	r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(strings.NewReader("")))
	r.ContentLength, r.TransferEncoding = -1, []string{"chunked"}
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !s.called || s.contentLength != 0 || s.body != "" || s.getBodyErr != nil {
		t.Errorf("%+v", s)
	}
}

type failingReader struct{ after int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.after == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := min(len(p), f.after)
	f.after -= n
	return n, nil
}

func TestBufferingErrors(t *testing.T) {
	tests := []struct {
		name       string
		body       func(w http.ResponseWriter) io.ReadCloser
		createFail bool
		mem        config.ByteSize
		status     int
	}{
		{"read error in memory", func(http.ResponseWriter) io.ReadCloser {
			return io.NopCloser(&failingReader{after: 10})
		}, false, 0, http.StatusBadRequest},
		{"read error while spilling", func(http.ResponseWriter) io.ReadCloser {
			return io.NopCloser(&failingReader{after: 10_000})
		}, false, 100, http.StatusBadRequest},
		{"MaxBytesReader before", func(w http.ResponseWriter) io.ReadCloser {
			return http.MaxBytesReader(w, io.NopCloser(strings.NewReader(strings.Repeat("x", 100))), 50)
		}, false, 0, http.StatusRequestEntityTooLarge},
		{"temporary file not created", func(http.ResponseWriter) io.ReadCloser {
			return io.NopCloser(strings.NewReader(strings.Repeat("x", 1000)))
		}, true, 100, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := tempFiles(t)
			if tt.createFail {
				createTemp = func(string, string) (*os.File, error) { return nil, errors.New("disk full") }
			}
			var s seen
			h, _ := New(t.Context(), recordNext(&s), &config.Buffering{MemRequestBodyBytes: tt.mem}, "b")
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Body, r.ContentLength = tt.body(w), -1
			h.ServeHTTP(w, r)
			if w.Code != tt.status || s.called {
				t.Errorf("status %d, next called %v; want %d, not called", w.Code, s.called, tt.status)
			}
			for _, n := range files() {
				if _, err := os.Stat(n); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("temporary file %s left behind", n)
				}
			}
		})
	}
}

// TestBufferingServer sends a chunked body over a real connection: the
// oversize one gets 413 and never reaches next, the small one arrives with its
// length.
func TestBufferingServer(t *testing.T) {
	var calls int
	var gotLen int64
	var gotBody []byte
	h, _ := New(t.Context(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		gotLen = r.ContentLength
		gotBody, _ = io.ReadAll(r.Body)
	}), &config.Buffering{MaxRequestBodyBytes: 1000, MemRequestBodyBytes: 100}, "b")
	srv := httptest.NewServer(h)
	defer srv.Close()

	post := func(n int) int {
		// A reader that is not a *bytes.Reader or *strings.Reader: sent chunked.
		body := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("y"), n)))
		res, err := http.Post(srv.URL, "application/octet-stream", body)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if code := post(5000); code != http.StatusRequestEntityTooLarge || calls != 0 {
		t.Errorf("oversize: status %d, next called %d times", code, calls)
	}
	if code := post(500); code != http.StatusOK || calls != 1 || gotLen != 500 || len(gotBody) != 500 {
		t.Errorf("small: status %d, calls %d, ContentLength %d, body %d bytes", code, calls, gotLen, len(gotBody))
	}
}

func TestBufferingConfig(t *testing.T) {
	tests := []struct {
		cfg config.Buffering
		err string
	}{
		{config.Buffering{MaxRequestBodyBytes: -1}, "buffering: maxRequestBodyBytes -1 is negative"},
		{config.Buffering{MemRequestBodyBytes: -1}, "buffering: memRequestBodyBytes -1 is negative"},
	}
	for _, tt := range tests {
		_, err := New(t.Context(), http.NotFoundHandler(), &tt.cfg, "b")
		if err == nil || err.Error() != tt.err {
			t.Errorf("error %v, want %s", err, tt.err)
		}
	}
	h, _ := New(t.Context(), http.NotFoundHandler(), &config.Buffering{}, "b")
	if b := h.(*buffering); b.memCap != DefaultMemRequestBodyBytes || b.max != 0 {
		t.Errorf("defaults: mem %d max %d", b.memCap, b.max)
	}
}
