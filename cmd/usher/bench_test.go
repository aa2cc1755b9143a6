package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestBenchCommand: usher bench prints what it measured, as text and as
// JSON, sending the method, headers and body it was given.
func TestBenchCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != "PUT" || r.Header.Get("X-Token") != "t1" || string(b) != "payload" || r.Host != "app.test" {
			http.Error(w, "wrong request", http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	body := t.TempDir() + "/body"
	if err := os.WriteFile(body, []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-n", "200", "-c", "4", "-m", "put", "-H", "X-Token: t1", "-H", "Host: app.test", "--body", body}
	var out, errb bytes.Buffer
	if code := cmdBench(append(args, "--json", srv.URL), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res struct {
		Requests int64            `json:"requests"`
		Errors   int64            `json:"errors"`
		Status   map[string]int64 `json:"status"`
		Latency  map[string]int64 `json:"latencyNs"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.Requests != 200 || res.Errors != 0 || res.Status["200"] != 200 || res.Latency["p99"] <= 0 {
		t.Errorf("%+v", res)
	}
	out.Reset()
	if code := cmdBench(append(args, srv.URL), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"requests  200", "status    200: 200", "latency    p50 "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the text output lacks %q:\n%s", want, out.String())
		}
	}
	if code := cmdBench([]string{"ftp://x"}, &out, &errb); code != 2 {
		t.Errorf("a bad URL: exit %d", code)
	}
}
