package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/usher-lb/usher/internal/demo"
	"github.com/usher-lb/usher/internal/server"
)

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "demo [--listen ADDR] [--admin ADDR] [--backends N] [--traffic=false]", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address usher listens on")
	adminAddr := fs.String("admin", "127.0.0.1:9090", "address of the admin API and dashboard")
	backends := fs.Int("backends", 3, "number of demo backends")
	traffic := fs.Bool("traffic", true, "send a few requests a second so the dashboard moves")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runDemo(ctx, demoOptions{listen: *listen, admin: *adminAddr, backends: *backends, traffic: *traffic}, stdout, stderr)
}

type demoOptions struct {
	listen, admin string
	backends      int
	traffic       bool
}

func runDemo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) int {
	bs, err := demo.Start(o.backends)
	if err != nil {
		fmt.Fprintln(stderr, "usher demo:", err)
		return 1
	}
	defer demo.Stop(bs)
	addrs := make([]string, len(bs))
	for i, b := range bs {
		addrs[i] = b.Addr
	}
	dir, err := os.MkdirTemp("", "usher-demo-")
	if err != nil {
		fmt.Fprintln(stderr, "usher demo:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "usher.yaml")
	if err := os.WriteFile(path, []byte(demo.Config(o.listen, o.admin, addrs)), 0o644); err != nil {
		fmt.Fprintln(stderr, "usher demo:", err)
		return 1
	}
	var wg sync.WaitGroup
	defer wg.Wait() // the traffic goroutine ends with ctx
	return serve(ctx, path, stderr, func(srv *server.Server, adminAddr string) error {
		url := "http://" + srv.Addr("web") + "/"
		fmt.Fprintf(stdout, "usher demo: %d backends behind usher, balanced round-robin, checked every 2s.\n\n", len(bs))
		for _, b := range bs {
			fmt.Fprintf(stdout, "  backend %s on http://%s\n", b.Name, b.Addr)
		}
		fmt.Fprintf(stdout, "\nOpen %s in a browser and reload, or run:\n\n", url)
		fmt.Fprintf(stdout, "  for i in 1 2 3 4 5 6; do curl -s %s; done\n\n", url)
		if adminAddr != "" {
			fmt.Fprintf(stdout, "Dashboard: http://%s/dashboard/  (metrics: http://%s/metrics)\n", adminAddr, adminAddr)
		}
		if o.traffic {
			fmt.Fprintln(stdout, "A little traffic flows through usher so the dashboard moves (--traffic=false stops it).")
			wg.Add(1)
			go func() {
				defer wg.Done()
				demo.Traffic(ctx, url, 5)
			}()
		}
		fmt.Fprintf(stdout, "The config is %s: edit it and save, usher reloads it live.\nCtrl-C stops the demo.\n", path)
		return nil
	})
}
