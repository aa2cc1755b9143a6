package config

import (
	"slices"
	"testing"
)

func TestValidateCache(t *testing.T) {
	for _, c := range []struct {
		name, mw string
		want     []string
	}{
		{"the design's shape", `{ cache: { store: memory, maxBytes: 256MiB } }`, nil},
		{"every key, redis", `{ cache: { store: redis, maxBytes: 1MiB, maxEntryBytes: 64MiB, keepStale: 10m, coalesceTimeout: 2s, keyPrefix: "shop:" } }`, nil},
		{"defaults", `{ cache: {} }`, nil},
		{"bad values", `{ cache: { store: memcache, maxBytes: 1MiB, maxEntryBytes: 2MiB, keyPrefix: x } }`, []string{
			`usher.yaml:4: http.middlewares.m.cache.store: "memcache" is not one of memory, redis`,
			`usher.yaml:4: http.middlewares.m.cache.maxEntryBytes: is larger than maxBytes (2097152 > 1048576 bytes): no entry that large could be kept`,
			`usher.yaml:4: http.middlewares.m.cache.keyPrefix: is for store: redis`,
		}},
		{"negative durations", `{ cache: { keepStale: -1s, coalesceTimeout: -1s } }`, []string{
			"usher.yaml:4: http.middlewares.m.cache.keepStale: a duration cannot be negative, got \"-1s\"\n" +
				"usher.yaml:4: http.middlewares.m.cache.coalesceTimeout: a duration cannot be negative, got \"-1s\"",
		}},
		{"a typo of a key", `{ cache: { maxByte: 1MiB } }`, []string{
			`usher.yaml:4: http.middlewares.m.cache.maxByte: unknown key "maxByte"; did you mean "maxBytes"?`,
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
