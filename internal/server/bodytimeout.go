package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/usher-lb/usher/internal/h1"
)

// bodyIdle gives request bodies on net/http's server (TLS entrypoints,
// HTTP/1.1 and HTTP/2) the idle timeout h1 gives them on plain ones: before
// each Read of the body the read deadline is put idle from now, through
// http.ResponseController, and a body that times out fails with an
// h1.BodyError whose Timeout is true, as on h1.
//
// The deadline is moved only when less than idle is left, to at most an
// eighth more (on HTTP/2 each move is a message to the connection's
// goroutine), and never past the request's readTimeout, counted here from
// the handler's start (a little later than net/http counts it). On HTTP/2
// the deadline also runs while the handler is not reading. Requests without
// a body cost nothing.
func bodyIdle(h http.Handler, idle, readTimeout time.Duration) http.Handler {
	if idle <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			h.ServeHTTP(w, r)
			return
		}
		b := &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: idle}
		if readTimeout > 0 {
			b.limit = time.Now().Add(readTimeout)
		}
		r.Body = b
		h.ServeHTTP(w, r)
	})
}

type idleBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	idle  time.Duration
	limit time.Time // the request's readTimeout; zero: none
	dl    time.Time // the deadline in force
	off   bool      // the writer cannot set read deadlines
}

func (b *idleBody) Read(p []byte) (int, error) {
	if !b.off {
		b.deadline()
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = &h1.BodyError{Err: err, Detail: "no body data for " + b.idle.String()}
	}
	return n, err
}

func (b *idleBody) deadline() {
	now := time.Now()
	end := now.Add(b.idle + b.idle/8)
	if !b.limit.IsZero() && b.limit.Before(end) {
		end = b.limit
	} else if !b.dl.IsZero() && !b.dl.Before(now.Add(b.idle)) {
		return
	}
	if end.Equal(b.dl) {
		return
	}
	if err := b.rc.SetReadDeadline(end); err != nil {
		b.off = true
		return
	}
	b.dl = end
}
