package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/config"
)

// defaultAdminAddress is the admin's address when the config gives none.
const defaultAdminAddress = "127.0.0.1:9090"

// cmdHealthcheck tells whether the usher running here serves: the admin's
// /ping answers 200. It needs no shell and no curl, so that an image FROM
// scratch can run it as its HEALTHCHECK. Without --address, the admin's
// address comes from the config; a config without an admin section is
// checked by connecting to its entrypoints instead.
func cmdHealthcheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("healthcheck", "healthcheck [-c FILE] [--address HOST:PORT] [--timeout D]", stderr)
	path := fs.String("c", "usher.yaml", "config file whose admin address is checked")
	addr := fs.String("address", "", "admin address to check (host:port); default the config's admin address, else "+defaultAdminAddress)
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "usher healthcheck: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := healthcheck(*path, *addr, *timeout); err != nil {
		fmt.Fprintln(stderr, "unhealthy:", err)
		return 1
	}
	return 0
}

func healthcheck(path, addr string, timeout time.Duration) error {
	if timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %v", timeout)
	}
	if addr != "" {
		return pingAdmin(addr, timeout)
	}
	cfg, err := config.Load(path)
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist):
		return pingAdmin(defaultAdminAddress, timeout)
	case err != nil:
		// A broken file may sit beside an usher that still serves the
		// config it had: ask the usual address before giving up.
		if perr := pingAdmin(defaultAdminAddress, timeout); perr != nil {
			return fmt.Errorf("%v (and %s could not be read for the admin's address: %s)", perr, path, firstLine(err.Error()))
		}
		return nil
	case cfg.Admin != nil:
		a := cfg.Admin.Address
		if a == "" {
			a = defaultAdminAddress
		}
		return pingAdmin(a, timeout)
	}
	return dialEntrypoints(cfg, timeout)
}

// pingAdmin sends GET /ping to the admin at addr (a wildcard host is
// reached on loopback) and wants 200.
func pingAdmin(addr string, timeout time.Duration) error {
	target, err := dialAddress(addr)
	if err != nil {
		return fmt.Errorf("admin address %q: %w", addr, err)
	}
	client := &http.Client{Timeout: timeout}
	resp, err := client.Get("http://" + target + "/ping")
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return fmt.Errorf("admin at %s does not answer: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		reason := strings.TrimSpace(string(body))
		if reason == "" {
			reason = http.StatusText(resp.StatusCode)
		}
		return fmt.Errorf("admin at %s answered %d to /ping: %s", target, resp.StatusCode, firstLine(reason))
	}
	return nil
}

// dialEntrypoints connects to every HTTP entrypoint of cfg: with no admin,
// that they accept connections is what can be known.
func dialEntrypoints(cfg *config.Config, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	n := 0
	for _, name := range slices.Sorted(maps.Keys(cfg.Entrypoints)) {
		ep := cfg.Entrypoints[name]
		if ep == nil || (ep.Protocol != "" && ep.Protocol != "http") {
			continue
		}
		target, err := dialAddress(ep.Address)
		if err != nil {
			return fmt.Errorf("entrypoint %s address %q: %w", name, ep.Address, err)
		}
		c, err := net.DialTimeout("tcp", target, time.Until(deadline))
		if err != nil {
			return fmt.Errorf("entrypoint %s does not accept connections on %s: %v", name, target, err)
		}
		c.Close()
		n++
	}
	if n == 0 {
		return errors.New("the config has neither an admin section nor an HTTP entrypoint to check (give --address)")
	}
	return nil
}

// dialAddress is the address to connect to for a listen address: a
// wildcard or empty host is loopback.
func dialAddress(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	if port == "" || port == "0" {
		return "", errors.New("no fixed port to connect to")
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
