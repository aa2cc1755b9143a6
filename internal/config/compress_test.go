package config

import (
	"slices"
	"testing"
)

func TestValidateCompress(t *testing.T) {
	for _, c := range []struct {
		name, mw string
		want     []string
	}{
		{"the design's shape", `{ compress: { encodings: [zstd, br, gzip], minResponseBodyBytes: 1024 } }`, nil},
		{"every key", `{ compress: { encodings: [gzip], minResponseBodyBytes: 0, includedContentTypes: ["text/*", "application/json", "application/*+xml", "*/*"],
    excludedContentTypes: ["text/csv"], level: { gzip: 9, br: 9, zstd: 22 } } }`, nil},
		{"sizes with units", `{ compress: { minResponseBodyBytes: 64KiB } }`, nil},
		{"bad values", `{ compress: { encodings: [zstd, brotli, gzip, gzip], minResponseBodyBytes: 1MiB, includedContentTypes: ["text/*", html, "*/html", "text/html; charset=utf-8"],
    excludedContentTypes: ["image/"], level: { gzip: 10, br: 11, zstd: 23 } } }`, []string{
			`usher.yaml:4: http.middlewares.m.compress.encodings[1]: "brotli" is not one of zstd, br, gzip`,
			`usher.yaml:4: http.middlewares.m.compress.encodings[3]: "gzip" is listed twice`,
			`usher.yaml:4: http.middlewares.m.compress.minResponseBodyBytes: must be 0 to 64KiB, got 1048576 bytes`,
			`usher.yaml:4: http.middlewares.m.compress.includedContentTypes[1]: "html" is not a media type: write type/subtype, type/* or type/*+suffix (text/html, text/*, application/*+json), without parameters`,
			`usher.yaml:4: http.middlewares.m.compress.includedContentTypes[2]: "*/html" is not a media type: write type/subtype, type/* or type/*+suffix (text/html, text/*, application/*+json), without parameters`,
			`usher.yaml:4: http.middlewares.m.compress.includedContentTypes[3]: "text/html; charset=utf-8" is not a media type: write type/subtype, type/* or type/*+suffix (text/html, text/*, application/*+json), without parameters`,
			`usher.yaml:5: http.middlewares.m.compress.excludedContentTypes[0]: "image/" is not a media type: write type/subtype, type/* or type/*+suffix (text/html, text/*, application/*+json), without parameters`,
			`usher.yaml:5: http.middlewares.m.compress.level.gzip: gzip levels are 1 to 9, got 10`,
			`usher.yaml:5: http.middlewares.m.compress.level.br: br levels are 1 to 9 when compressing on the fly (10 and 11 take a hundred times the CPU), got 11`,
			`usher.yaml:5: http.middlewares.m.compress.level.zstd: zstd levels are 1 to 22, got 23`,
		}},
		{"a typo of a key", `{ compress: { encoding: [gzip] } }`, []string{
			`usher.yaml:4: http.middlewares.m.compress.encoding: unknown key "encoding"; did you mean "encodings"?`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := "http:\n  middlewares:\n    x: { headers: { frameDeny: true } }\n    m: " + c.mw + "\n"
			var got []string
			if _, err := parseWith("usher.yaml", text, nil, nil); err != nil {
				got = []string{err.Error()}
			} else {
				got = validate(t, text)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n  %q\nwant\n  %q", got, c.want)
			}
		})
	}
}
