package pool

import (
	"net/url"
	"testing"
)

func TestShownHidesUserinfo(t *testing.T) {
	for raw, want := range map[string]string{
		"http://10.0.0.1:8080/app":          "http://10.0.0.1:8080/app",
		"http://alice:s3cret@10.0.0.1:8080": "http://********@10.0.0.1:8080",
		"https://TOKEN123@example.com/":     "https://********@example.com/",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := NewServer("svc|"+raw, u, 1).Shown; got != want {
			t.Errorf("%s shown as %q, want %q", raw, got, want)
		}
	}
}
