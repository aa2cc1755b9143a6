package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// adminFlags are the flags of the commands that talk to a running usher's
// admin API. The token comes from --token-file or USHER_ADMIN_TOKEN, never
// from the command line, where other users of the machine could read it.
type adminFlags struct {
	admin, tokenFile *string
	asJSON           *bool
}

func addAdminFlags(fs *flag.FlagSet) adminFlags {
	return adminFlags{
		admin:     fs.String("admin", "127.0.0.1:9090", "address of the admin API (host:port, or an http(s) URL)"),
		tokenFile: fs.String("token-file", "", "file holding the admin token (default: $USHER_ADMIN_TOKEN)"),
		asJSON:    fs.Bool("json", false, "print the admin API's JSON"),
	}
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var pos []string
	for {
		if code, stop := parseFlags(fs, args); stop {
			return nil, code, true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, false
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// call sends a request to the admin API and returns the answer's body, or
// prints why it failed (prefixed by cmd) and returns false.
func (af adminFlags) call(cmd, method, path string, body any, stderr io.Writer) ([]byte, bool) {
	token := os.Getenv("USHER_ADMIN_TOKEN")
	if *af.tokenFile != "" {
		b, err := os.ReadFile(*af.tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "usher %s: token file: %v\n", cmd, err)
			return nil, false
		}
		token = strings.TrimSpace(string(b))
	}
	base := *af.admin
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimRight(base, "/")+path, rd)
	if err != nil {
		fmt.Fprintf(stderr, "usher %s: %v\n", cmd, err)
		return nil, false
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "usher %s: admin API: %v\n", cmd, err)
		return nil, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			fmt.Fprintf(stderr, "usher %s: %s (%s)\n", cmd, e.Error, resp.Status)
		} else {
			fmt.Fprintf(stderr, "usher %s: admin API answered %s\n", cmd, resp.Status)
		}
		return nil, false
	}
	return b, true
}

// deployment is what the CLI reads of GET /api/http/deployments/{name}.
type deployment struct {
	Service  string
	Mode     string
	Services []struct {
		Name     string
		Weight   int
		Share    float64
		InFlight int64
		State    string
	}
	Canary *struct {
		Service      string
		State        string
		Step         int
		Steps        []int
		Weight       int
		Interval     string
		MaxErrorRate float64
		MaxP99       string
		MinRequests  int
		Reason       string
		Current      struct {
			Requests  uint64
			ErrorRate float64
			P99       time.Duration
		}
	}
	History []struct {
		Time   time.Time
		Action string
		Reason string
	}
}

func printDeployment(w io.Writer, d deployment, history int) {
	fmt.Fprintf(w, "%s (weights set by %s)\n", d.Service, d.Mode)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SERVICE\tSHARE\tIN FLIGHT\tSTATE")
	for _, s := range d.Services {
		fmt.Fprintf(tw, "  %s\t%.1f%%\t%d\t%s\n", s.Name, 100*s.Share, s.InFlight, s.State)
	}
	tw.Flush()
	if c := d.Canary; c != nil {
		fmt.Fprintf(w, "  canary %s: %s, step %d of %d %v, %d%% of the traffic\n", c.Service, c.State, c.Step, len(c.Steps), c.Steps, c.Weight)
		p99 := c.MaxP99
		if p99 == "" {
			p99 = "not checked"
		}
		fmt.Fprintf(w, "  judged every %s: error rate at most %.2f%%, p99 at most %s, at least %d requests\n", c.Interval, 100*c.MaxErrorRate, p99, c.MinRequests)
		fmt.Fprintf(w, "  this step so far: %d requests, error rate %.2f%%, p99 %s\n", c.Current.Requests, 100*c.Current.ErrorRate, c.Current.P99)
		fmt.Fprintf(w, "  %s\n", c.Reason)
	}
	if n := len(d.History); n > 0 && history > 0 {
		fmt.Fprintln(w, "  history:")
		for _, e := range d.History[max(0, n-history):] {
			fmt.Fprintf(w, "    %s  %-9s %s\n", e.Time.Local().Format("15:04:05.000"), e.Action, e.Reason)
		}
	}
}

// cmdCanary shows or moves the canary of a weighted service of a running
// usher, through its admin API.
func cmdCanary(args []string, stdout, stderr io.Writer) int {
	const synopsis = "canary status [SERVICE] | promote SERVICE [--full] | abort SERVICE  [--admin ADDR] [--token-file F] [--json]"
	if len(args) == 0 || (args[0] != "status" && args[0] != "promote" && args[0] != "abort") {
		fmt.Fprintln(stderr, "Usage: usher "+synopsis)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	sub := args[0]
	fs := newFlags("canary "+sub, synopsis, stderr)
	af := addAdminFlags(fs)
	full := fs.Bool("full", false, "promote: straight to the last step")
	pos, code, stop := parseInterleaved(fs, args[1:])
	if stop {
		return code
	}
	if len(pos) > 1 || (sub != "status" && len(pos) != 1) {
		fmt.Fprintln(stderr, "Usage: usher "+synopsis)
		return 2
	}
	cmd := "canary " + sub
	var b []byte
	var ok bool
	switch {
	case sub == "status" && len(pos) == 0:
		if b, ok = af.call(cmd, http.MethodGet, "/api/http/deployments", nil, stderr); !ok {
			return 1
		}
		if *af.asJSON {
			stdout.Write(b)
			return 0
		}
		var ds []deployment
		if err := json.Unmarshal(b, &ds); err != nil {
			fmt.Fprintf(stderr, "usher %s: bad answer: %v\n", cmd, err)
			return 1
		}
		n := 0
		for _, d := range ds {
			if d.Canary != nil {
				printDeployment(stdout, d, 5)
				n++
			}
		}
		if n == 0 {
			fmt.Fprintln(stdout, "no weighted service has a canary")
		}
		return 0
	case sub == "status":
		b, ok = af.call(cmd, http.MethodGet, "/api/http/deployments/"+url.PathEscape(pos[0]), nil, stderr)
	case sub == "promote":
		b, ok = af.call(cmd, http.MethodPost, "/api/http/deployments/"+url.PathEscape(pos[0])+"/canary/promote", map[string]bool{"full": *full}, stderr)
	default:
		b, ok = af.call(cmd, http.MethodPost, "/api/http/deployments/"+url.PathEscape(pos[0])+"/canary/abort", nil, stderr)
	}
	if !ok {
		return 1
	}
	return showDeployment(cmd, b, *af.asJSON, stdout, stderr)
}

func showDeployment(cmd string, b []byte, asJSON bool, stdout, stderr io.Writer) int {
	if asJSON {
		stdout.Write(b)
		return 0
	}
	var d deployment
	if err := json.Unmarshal(b, &d); err != nil {
		fmt.Fprintf(stderr, "usher %s: bad answer: %v\n", cmd, err)
		return 1
	}
	printDeployment(stdout, d, 10)
	return 0
}

// cmdSwitch sends all of a weighted service's traffic to one of its
// services at once (blue-green), or back to where it was.
func cmdSwitch(args []string, stdout, stderr io.Writer) int {
	const synopsis = "switch SERVICE TO | switch SERVICE --back  [--admin ADDR] [--token-file F] [--json]"
	fs := newFlags("switch", synopsis, stderr)
	af := addAdminFlags(fs)
	back := fs.Bool("back", false, "go back to the weights before the last switch")
	pos, code, stop := parseInterleaved(fs, args)
	if stop {
		return code
	}
	if (*back && len(pos) != 1) || (!*back && len(pos) != 2) {
		fmt.Fprintln(stderr, "Usage: usher "+synopsis)
		return 2
	}
	path := "/api/http/deployments/" + url.PathEscape(pos[0]) + "/switch"
	var body any
	if *back {
		path += "/back"
	} else {
		body = map[string]string{"to": pos[1]}
	}
	b, ok := af.call("switch", http.MethodPost, path, body, stderr)
	if !ok {
		return 1
	}
	return showDeployment("switch", b, *af.asJSON, stdout, stderr)
}
