package proxy

import (
	"errors"
	"net/http"
)

// Outcome is what happened to one forwarded request, for logs, metrics and
// health accounting.
type Outcome struct {
	Status int   // status the client got (499 when the client went away first)
	Bytes  int64 // response body bytes sent to the client
	// Err is the failure, nil when the server answered in full and the client
	// took it: the server's (an *Error, or a body cut short: IsTruncated),
	// or the client's (a *BodyError, ErrCanceled, or IsClientError).
	Err     error
	Written bool // whether any part of the response reached the client
	// Abort: the response was cut short after it began, or the client went
	// away before it. The caller must end the exchange with the client with
	// panic(http.ErrAbortHandler), once it has recorded it: an HTTP/1.1
	// connection is then closed without the response's end, an HTTP/2 stream
	// is reset, and the client cannot take what it got for a whole response.
	Abort bool
}

// StatusClientClosed is logged when the client went away before the response (as nginx does).
const StatusClientClosed = 499

// Serve forwards r to the server and writes its response to w. When the server
// fails before a response, the client gets 502 (504 on a timeout) with a body
// that tells nothing of usher's internals.
func (up *Upstream) Serve(w http.ResponseWriter, r *http.Request, ro RequestOptions) Outcome {
	if IsUpgrade(r) {
		return up.ServeUpgrade(w, r, ro)
	}
	resp, err := up.RoundTrip(w, r, ro)
	if err != nil {
		return WriteError(w, r, err)
	}
	status := resp.Status
	n, err := resp.WriteTo(w)
	return Outcome{Status: status, Bytes: n, Err: err, Written: true, Abort: err != nil}
}

// WriteError answers the client for an exchange that failed before any
// response: 502, or 504 when the server was too slow; the client's own body
// failure gets 400 (408 for a timeout, 413 for a limit; see BodyError) and,
// on HTTP/1, the end of its connection, whose framing can no longer be
// trusted; a client that went away gets nothing (499 in the Outcome).
func WriteError(w http.ResponseWriter, r *http.Request, err error) Outcome {
	if errors.Is(err, ErrCanceled) {
		return Outcome{Status: StatusClientClosed, Err: err, Abort: true}
	}
	var be *BodyError
	if errors.As(err, &be) {
		status := be.Status()
		if r.ProtoMajor == 1 {
			w.Header()["Connection"] = closeConn
		}
		PlainError(w, status)
		return Outcome{Status: status, Err: err, Written: true}
	}
	status := http.StatusBadGateway
	var e *Error
	if errors.As(err, &e) && e.Timeout {
		status = http.StatusGatewayTimeout
	}
	PlainError(w, status)
	return Outcome{Status: status, Err: err, Written: true}
}

// PlainError writes a short plain-text error with the status's standard text.
func PlainError(w http.ResponseWriter, status int) {
	h := w.Header()
	h["Content-Type"] = plainText
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(status)
	w.Write([]byte(http.StatusText(status) + "\n"))
}

var (
	plainText = []string{"text/plain; charset=utf-8"}
	nosniff   = []string{"nosniff"}
	closeConn = []string{"close"}
)
