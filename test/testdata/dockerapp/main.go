// Command dockerapp is the server of the Docker provider's tests, built
// static and run FROM scratch: it answers with its NAME, drains for DRAIN
// after SIGTERM (as a server behind a load balancer should), and with
// -check is its own health check (the image has no shell and no curl).
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-check" {
		resp, err := http.Get("http://127.0.0.1:8080/ready")
		if err != nil || resp.StatusCode != http.StatusOK {
			os.Exit(1)
		}
		os.Exit(0)
	}
	name := os.Getenv("NAME")
	started := time.Now()
	readyAfter, _ := time.ParseDuration(os.Getenv("READY_AFTER"))
	drain, _ := time.ParseDuration(os.Getenv("DRAIN"))
	var sick atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() || time.Since(started) < readyAfter {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("POST /sick", func(w http.ResponseWriter, r *http.Request) { sick.Store(true) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Name", name)
		fmt.Fprint(w, name)
	})
	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		time.Sleep(drain) // still answering while the load balancer lets go
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
