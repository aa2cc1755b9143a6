package config

import (
	"slices"
	"testing"
)

func TestValidateMirrorCompare(t *testing.T) {
	for _, c := range []struct {
		name, compare string
		want          []string
	}{
		{"everything", `{ status: true, body: true, headers: [Content-Type, x-version], maxBodySize: 1MiB }`, nil},
		{"defaults", `{}`, nil},
		{"headers only", `{ status: false, body: false, headers: [ETag] }`, nil},
		{"nothing", `{ status: false, body: false }`, []string{
			`usher.yaml:6: http.services.shop.mirror.compare: compares nothing: status and body are false and no headers are named; remove compare or set one`,
		}},
		{"bad headers", `{ headers: ["Content Type", content-length, Connection, ETag, etag] }`, []string{
			`usher.yaml:6: http.services.shop.mirror.compare.headers[0]: "Content Type" is not a valid header name`,
			`usher.yaml:6: http.services.shop.mirror.compare.headers[1]: Content-Length is the framing of the body, set by each hop; compare the body instead (body: true)`,
			`usher.yaml:6: http.services.shop.mirror.compare.headers[2]: Connection is hop-by-hop: it never reaches the client, so it is not compared`,
			`usher.yaml:6: http.services.shop.mirror.compare.headers[4]: Etag is named twice (also headers[3])`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := `http:
  services:
    main: { loadBalancer: { servers: [ { url: "http://127.0.0.1:1" } ] } }
    next: { loadBalancer: { servers: [ { url: "http://127.0.0.1:2" } ] } }
    shop:
      mirror: { service: main, mirrors: [ { name: next, percent: 10 } ], compare: ` + c.compare + " }\n"
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

func TestMirrorCompareDefaults(t *testing.T) {
	c := &MirrorCompare{Headers: []string{"ETag"}}
	c.applyDefaults()
	if !*c.Status || !*c.Body || c.MaxBodySize != 1<<20 {
		t.Errorf("defaults: status %v body %v maxBodySize %d", *c.Status, *c.Body, c.MaxBodySize)
	}
	off := false
	c = &MirrorCompare{Status: &off}
	c.applyDefaults()
	if *c.Status || !*c.Body {
		t.Errorf("an explicit false was overridden")
	}
}
