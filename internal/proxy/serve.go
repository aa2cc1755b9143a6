package proxy

import (
	"errors"
	"net/http"
)

// Outcome is what happened to one forwarded request, for logs, metrics and
// health accounting.
type Outcome struct {
	Status  int   // status the client got (499 when the client went away first)
	Bytes   int64 // response body bytes sent to the client
	Err     error // the server's failure, nil when it answered in full
	Written bool  // whether any part of the response reached the client
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
	resp, err := up.RoundTrip(r, ro)
	if err != nil {
		return WriteError(w, err)
	}
	status := resp.Status
	n, err := resp.WriteTo(w)
	if err != nil && IsClientError(err) {
		return Outcome{Status: status, Bytes: n, Written: true}
	}
	return Outcome{Status: status, Bytes: n, Err: err, Written: true}
}

// WriteError answers the client for an exchange that failed before any response.
func WriteError(w http.ResponseWriter, err error) Outcome {
	if errors.Is(err, ErrCanceled) {
		return Outcome{Status: StatusClientClosed, Err: err}
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
)
