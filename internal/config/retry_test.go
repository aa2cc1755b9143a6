package config

import (
	"strings"
	"testing"
)

func TestValidateRetryMiddleware(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{
			name: "valid",
			text: `http:
  middlewares:
    r1: { retry: { attempts: 4, initialInterval: 100ms } }
    r2: { retry: { attempts: 1 } }
    r3: { retry: { attempts: 10, initialInterval: 0s } }
`,
		},
		{
			name: "problems",
			text: `http:
  middlewares:
    none: { retry: {} }
    neg: { retry: { attempts: -1 } }
    many: { retry: { attempts: 11 } }
`,
			want: []string{
				`usher.yaml:5: http.middlewares.many.retry.attempts: tries in all, from 1 to 10, got 11`,
				`usher.yaml:4: http.middlewares.neg.retry.attempts: tries in all, from 1 to 10, got -1`,
				`usher.yaml:3: http.middlewares.none.retry.attempts: attempts is required: the tries in all, the first included, like 4`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := validate(t, tc.text)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}
