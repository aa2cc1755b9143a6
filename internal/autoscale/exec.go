package autoscale

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Exec is the exec actuator: it runs Command with USHER_DESIRED (the count
// of servers wanted from it), USHER_SERVICE, USHER_SERVERS (the URLs it
// printed last, space-separated) and USHER_DRAINED (those of them usher
// drained, for it to stop first) in its environment. Its standard output,
// one URL a line (blank lines skipped), is the set of servers usher adopts;
// a failure (exit status, timeout, a line that is not an http:// or
// https:// URL with a host) adopts nothing and is reported with the end of
// its standard error.
type Exec struct {
	Service string
	Command []string
	Dir     string // where it runs (the config file's directory)
	Timeout time.Duration
}

// Scale runs the command once.
func (e *Exec) Scale(ctx context.Context, want int, current, drained []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Command[0], e.Command[1:]...)
	cmd.Dir = e.Dir
	cmd.Env = append(os.Environ(),
		"USHER_DESIRED="+strconv.Itoa(want),
		"USHER_SERVICE="+e.Service,
		"USHER_SERVERS="+strings.Join(current, " "),
		"USHER_DRAINED="+strings.Join(drained, " "),
	)
	var stdout bytes.Buffer
	stderr := &tail{max: 2048}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	// Backends the command starts may keep its pipes open: usher does not
	// wait for them past the command's own end.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("timed out after %s", e.Timeout)
		}
		return nil, fmt.Errorf("%s: %w; stderr: %q", e.Command[0], err, stderr.String())
	}
	return parseURLs(stdout.Bytes())
}

// parseURLs reads an actuator's output: one server URL a line.
func parseURLs(b []byte) ([]string, error) {
	out := []string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		u, err := url.Parse(line)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("output line %d: %q is not a server URL (http:// or https:// with a host)", n, clip(line))
		}
		s := u.String()
		for _, o := range out {
			if o == s {
				return nil, fmt.Errorf("output line %d: %s is printed twice", n, s)
			}
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string { return strings.TrimSpace(string(t.b)) }
