package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/usher-lb/usher/internal/demo"
	"github.com/usher-lb/usher/internal/server"
)

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", "demo [--listen ADDR]", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address usher listens on")
	backends := fs.Int("backends", 3, "number of demo backends")
	if code, stop := parseFlags(fs, args); stop {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runDemo(ctx, *listen, *backends, stdout, stderr)
}

func runDemo(ctx context.Context, listen string, n int, stdout, stderr io.Writer) int {
	bs, err := demo.Start(n)
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
	if err := os.WriteFile(path, []byte(demo.Config(listen, addrs)), 0o644); err != nil {
		fmt.Fprintln(stderr, "usher demo:", err)
		return 1
	}
	return serve(ctx, path, stderr, func(srv *server.Server) {
		url := "http://" + srv.Addr("web") + "/"
		fmt.Fprintf(stdout, "usher demo: %d backends behind usher, balanced round-robin.\n\n", len(bs))
		for _, b := range bs {
			fmt.Fprintf(stdout, "  backend %s on http://%s\n", b.Name, b.Addr)
		}
		fmt.Fprintf(stdout, "\nOpen %s in a browser and reload, or run:\n\n", url)
		fmt.Fprintf(stdout, "  for i in 1 2 3 4 5 6; do curl -s %s; done\n\n", url)
		fmt.Fprintf(stdout, "The config is %s: edit it and save, usher reloads it live.\nCtrl-C stops the demo.\n", path)
	})
}
