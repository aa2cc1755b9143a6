package config

import (
	"slices"
	"testing"
)

func TestValidateWAF(t *testing.T) {
	for _, c := range []struct {
		name, mw string
		want     []string
	}{
		{"the design's shape", `{ waf: { paranoiaLevel: 1, mode: block } }`, nil},
		{"every key", `{ waf: { paranoiaLevel: 4, inboundAnomalyThreshold: 10, outboundAnomalyThreshold: 8, mode: detect, requestBodyLimit: 64KiB, onRequestBodyLimit: inspectPart,
    responseInspection: true, responseBodyLimit: 1MiB, responseBodyTypes: [text/html, application/json], excludeRules: [942100, 920350], excludeTags: [attack-sqli],
    rules: ["SecRule ARGS:debug \"@streq 1\" \"id:10001,phase:1,deny\""], rulesFiles: [] } }`, nil},
		{"no request body inspection", `{ waf: { requestBodyLimit: 0 } }`, nil},
		{"bad values", `{ waf: { paranoiaLevel: 5, inboundAnomalyThreshold: -1, outboundAnomalyThreshold: -2, mode: blok, requestBodyLimit: 65MiB, onRequestBodyLimit: pass,
    responseBodyLimit: 0, responseBodyTypes: [html], excludeRules: [0], excludeTags: ["a\"b"], rules: [" "], rulesFiles: ["", "/nonexistent/waf.conf"] } }`, []string{
			`usher.yaml:4: http.middlewares.m.waf.paranoiaLevel: paranoia levels are 1 to 4, got 5`,
			`usher.yaml:4: http.middlewares.m.waf.inboundAnomalyThreshold: must be 1 or more, got -1`,
			`usher.yaml:4: http.middlewares.m.waf.outboundAnomalyThreshold: must be 1 or more, got -2`,
			`usher.yaml:4: http.middlewares.m.waf.mode: "blok" is not one of block, detect; did you mean "block"?`,
			`usher.yaml:4: http.middlewares.m.waf.onRequestBodyLimit: "pass" is not one of reject, inspectPart`,
			`usher.yaml:4: http.middlewares.m.waf.requestBodyLimit: must be 0 to 64MiB (bodies are held in memory while inspected), got 68157440 bytes`,
			`usher.yaml:5: http.middlewares.m.waf.responseBodyLimit: must be 1 byte to 64MiB (bodies are held in memory while inspected), got 0 bytes`,
			`usher.yaml:5: http.middlewares.m.waf.responseBodyTypes[0]: "html" is not a media type: write type/subtype (text/html), without parameters`,
			`usher.yaml:5: http.middlewares.m.waf.excludeRules[0]: a rule id is a positive number, got 0`,
			`usher.yaml:5: http.middlewares.m.waf.excludeTags[0]: "a\"b" is not a tag (no quotes, backslashes or line breaks)`,
			`usher.yaml:5: http.middlewares.m.waf.rules[0]: an empty directive`,
			`usher.yaml:5: http.middlewares.m.waf.rulesFiles[0]: a file name is required`,
			`usher.yaml:5: http.middlewares.m.waf.rulesFiles[1]: cannot read /nonexistent/waf.conf: no such file or directory`,
		}},
		{"a typo of a key", `{ waf: { paranoiaLevl: 2 } }`, []string{
			`usher.yaml:4: http.middlewares.m.waf.paranoiaLevl: unknown key "paranoiaLevl"; did you mean "paranoiaLevel"?`,
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
