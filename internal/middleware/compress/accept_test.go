package compress

import (
	"net/http"
	"testing"

	"github.com/usher-lb/usher/internal/config"
)

func TestAcceptEncodingChoice(t *testing.T) {
	def := mustNew(t, &config.Compress{})
	gzipFirst := mustNew(t, &config.Compress{Encodings: []string{"gzip", "zstd"}})
	brOnly := mustNew(t, &config.Compress{Encodings: []string{"br"}})
	for _, c := range []struct {
		h    *handler
		ae   []string // nil: no Accept-Encoding field
		want string
	}{
		{def, nil, ""},
		{def, []string{""}, ""},
		{def, []string{"gzip, deflate, br, zstd"}, "zstd"}, // a browser's
		{def, []string{"gzip, deflate, br"}, "br"},
		{def, []string{"gzip"}, "gzip"},
		{def, []string{"deflate"}, ""},
		{def, []string{"identity"}, ""},
		{def, []string{"identity;q=0"}, ""}, // nothing better than identity to give
		{def, []string{"*"}, "zstd"},
		{def, []string{"*;q=0"}, ""},
		{def, []string{"*;q=0, gzip"}, "gzip"},
		{def, []string{"gzip, *;q=0"}, "gzip"},
		{def, []string{"zstd;q=0, *"}, "br"},
		{def, []string{"gzip;q=0"}, ""},
		{def, []string{"gzip;q=0.0"}, ""},
		{def, []string{"gzip;q=0.000"}, ""},
		{def, []string{"gzip;q=0.001"}, "gzip"},
		{def, []string{"gzip;q=1"}, "gzip"},
		{def, []string{"gzip;q=1.000"}, "gzip"},
		{def, []string{"gzip;Q=0.5"}, "gzip"},
		{def, []string{"gzip;q=0.5, br;q=0.1"}, "br"}, // usher's order among the accepted
		{def, []string{"zstd;q=0, br;q=0, gzip;q=0.2"}, "gzip"},
		{def, []string{"GZIP"}, "gzip"},
		{def, []string{"Br, GZip"}, "br"},
		{def, []string{"x-gzip"}, "gzip"},
		{def, []string{"  gzip  ;  q=0.5  ,  "}, "gzip"},
		{def, []string{"gzip;q = 0"}, ""},
		{def, []string{"\tzstd\t"}, "zstd"},
		{def, []string{"gzip", "br"}, "br"}, // two field lines
		{def, []string{",,,gzip,,"}, "gzip"},
		// Bad input accepts nothing it does not clearly say.
		{def, []string{"gzip;q=abc"}, ""},
		{def, []string{"gzip;q=1.5"}, ""},
		{def, []string{"gzip;q=2"}, ""},
		{def, []string{"gzip;q=-1"}, ""},
		{def, []string{"gzip;q=0.1234"}, ""},
		{def, []string{"gzip;q=1.001"}, ""},
		{def, []string{"gzip;q="}, ""},
		{def, []string{"gzip;q=.5"}, ""},
		{def, []string{"gzip;q=0.5x"}, ""},
		{def, []string{"gzip;q=abc, br"}, "br"},
		{def, []string{"gzipp, brr, zst"}, ""},
		{def, []string{"gzip;level=9"}, "gzip"}, // other parameters are ignored
		{def, []string{"gzip;"}, "gzip"},
		{def, []string{"gzip;q=0, gzip"}, ""}, // the first mention counts
		{def, []string{"gzip, gzip;q=0"}, "gzip"},
		{def, []string{";q=1"}, ""},
		{def, []string{"\x00\xff"}, ""},
		// The configured order and set.
		{gzipFirst, []string{"gzip, deflate, br, zstd"}, "gzip"},
		{gzipFirst, []string{"br, zstd"}, "zstd"},
		{gzipFirst, []string{"br"}, ""},
		{brOnly, []string{"gzip, zstd"}, ""},
		{brOnly, []string{"*"}, "br"},
	} {
		r, _ := http.NewRequest(http.MethodGet, "http://a/", nil)
		if c.ae != nil {
			r.Header["Accept-Encoding"] = c.ae
		}
		if got := encodingNames[c.h.choose(r)]; got != c.want {
			t.Errorf("order %v, Accept-Encoding %q: chose %q, want %q", c.h.order, c.ae, got, c.want)
		}
	}
}

func TestMediaTypes(t *testing.T) {
	def := mustNew(t, &config.Compress{})
	incl := mustNew(t, &config.Compress{IncludedContentTypes: []string{"application/json", "text/*", "application/*+xml", "image/png"}})
	excl := mustNew(t, &config.Compress{ExcludedContentTypes: []string{"text/csv", "image/svg+xml"}})
	both := mustNew(t, &config.Compress{IncludedContentTypes: []string{"text/*"}, ExcludedContentTypes: []string{"text/csv"}})
	for _, c := range []struct {
		h    *handler
		ct   string
		want bool
	}{
		{def, "text/html; charset=utf-8", true},
		{def, "TEXT/HTML", true},
		{def, "application/json", true},
		{def, "application/javascript", true},
		{def, "text/event-stream", true},
		{def, "image/svg+xml", true},
		{def, "application/wasm", true},
		{def, "image/png", false},
		{def, "Image/JPEG", false},
		{def, "video/mp4", false},
		{def, "audio/ogg", false},
		{def, "font/woff2", false},
		{def, "application/zip", false},
		{def, "application/gzip", false},
		{def, "application/octet-stream", false},
		{def, "html", false},
		{def, "", false},
		{incl, "application/json; charset=utf-8", true},
		{incl, "text/plain", true},
		{incl, "application/atom+xml", true},
		{incl, "image/png", true}, // named: the built-in exclusions do not apply
		{incl, "application/javascript", false},
		{excl, "text/csv", false},
		{excl, "image/svg+xml", false},
		{excl, "text/html", true},
		{excl, "image/png", false}, // the built-in exclusions still do
		{both, "text/html", true},
		{both, "text/csv", false},
		{both, "application/json", false},
	} {
		typ, sub, ok := splitMediaType(c.ct)
		if got := ok && c.h.compressible(typ, sub); got != c.want {
			t.Errorf("included %v, excluded %v: %q compressible = %v, want %v", c.h.included, c.h.excluded, c.ct, got, c.want)
		}
	}
}

func TestBadConfigs(t *testing.T) {
	for _, c := range []struct {
		cfg  config.Compress
		want string
	}{
		{config.Compress{Encodings: []string{"deflate"}}, `compress: encodings: "deflate" is not one of zstd, br, gzip`},
		{config.Compress{Encodings: []string{"gzip", "gzip"}}, `compress: encodings: "gzip" is listed twice`},
		{config.Compress{MinResponseBodyBytes: size(-1)}, `compress: minResponseBodyBytes must be 0 to 64KiB, got -1`},
		{config.Compress{MinResponseBodyBytes: size(1 << 20)}, `compress: minResponseBodyBytes must be 0 to 64KiB, got 1048576`},
		{config.Compress{IncludedContentTypes: []string{"text"}}, `compress: includedContentTypes: "text" is not a media type`},
		{config.Compress{ExcludedContentTypes: []string{"*/png"}}, `compress: excludedContentTypes: "*/png" is not a media type`},
		{config.Compress{Level: &config.CompressLevel{Gzip: 10}}, `compress: level.gzip must be 1 to 9, got 10`},
		{config.Compress{Level: &config.CompressLevel{Br: 11}}, `compress: level.br must be 1 to 9, got 11`},
		{config.Compress{Level: &config.CompressLevel{Zstd: 23}}, `compress: level.zstd must be 1 to 22, got 23`},
	} {
		_, err := New(t.Context(), http.NotFoundHandler(), &c.cfg, "gz")
		if err == nil || len(err.Error()) < len(c.want) || err.Error()[:len(c.want)] != c.want {
			t.Errorf("%+v: error %v, want %s", c.cfg, err, c.want)
		}
	}
}

func size(n int64) *config.ByteSize { b := config.ByteSize(n); return &b }

func mustNew(t testing.TB, cfg *config.Compress) *handler {
	t.Helper()
	h, err := New(t.Context(), http.NotFoundHandler(), cfg, "gz")
	if err != nil {
		t.Fatal(err)
	}
	return h.(*handler)
}
