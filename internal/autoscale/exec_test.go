package autoscale

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExec(t *testing.T) {
	for _, c := range []struct {
		name, script string
		want         []string
		err          string // a part of the error, when one is expected
	}{
		{"the URLs printed, blank lines skipped",
			`test "$USHER_DESIRED" = 2 && test "$USHER_SERVICE" = app && test "$USHER_DRAINED" = "http://c" || exit 9
			printf 'http://127.0.0.1:1\n\n  https://b:2/p  \n'`,
			[]string{"http://127.0.0.1:1", "https://b:2/p"}, ""},
		{"nothing printed: no server", `true`, []string{}, ""},
		{"a failure carries stderr", `echo "no capacity left" >&2; exit 3`, nil, `exit status 3; stderr: "no capacity left"`},
		{"a line that is no URL", `echo http://a:1; echo oops`, nil, `output line 2: "oops" is not a server URL`},
		{"a URL twice", `echo http://a:1; echo http://a:1`, nil, `output line 2: http://a:1 is printed twice`},
		{"too slow", `sleep 5`, nil, "timed out after 200ms"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := &Exec{Service: "app", Command: []string{"sh", "-c", c.script}, Timeout: 200 * time.Millisecond}
			got, err := e.Scale(context.Background(), 2, []string{"http://a", "http://c"}, []string{"http://c"})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, c.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}
