// Command scalectl is the exec actuator of the autoscaler's tests: it asks
// the test (at the URL of its first argument) for USHER_DESIRED backends,
// passing USHER_DRAINED along, and prints the URLs the test answers, one a
// line, as usher expects of an actuator. The test runs the backends: real
// servers on 127.0.0.1 that outlive this command.
package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: scalectl CONTROL_URL")
		os.Exit(2)
	}
	q := url.Values{"desired": {os.Getenv("USHER_DESIRED")}, "drained": {os.Getenv("USHER_DRAINED")}}
	resp, err := http.Get(os.Args[1] + "?" + q.Encode())
	if err != nil {
		fmt.Fprintln(os.Stderr, "scalectl:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		fmt.Fprintf(os.Stderr, "scalectl: %s: %s\n", resp.Status, b)
		os.Exit(1)
	}
	io.Copy(os.Stdout, resp.Body)
}
