package admin

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/observe"
)

// pingEvery is how often the event stream sends a comment when nothing
// happens, so that proxies keep it open and a gone client is noticed.
var pingEvery = 15 * time.Second

// events streams the event bus as Server-Sent Events: first the recent
// events, then each new one as it is published, one "event:" (its type) and
// one "data:" (its JSON) each. It ends when the client goes.
func (a *admin) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream has no end to meet a deadline at; errors mean no deadline was set
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}

	ctx := r.Context()
	var ch <-chan observe.Event
	if a.d.Events != nil {
		ch = a.d.Events.Subscribe(ctx)
	}
	if _, err := w.Write([]byte("retry: 2000\n\n")); err != nil {
		return
	}
	if a.d.Events != nil {
		for _, ev := range a.d.Events.Recent() {
			if writeEvent(w, ev) != nil {
				return
			}
		}
	}
	if rc.Flush() != nil {
		return
	}
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if _, err := w.Write([]byte(": ping\n\n")); err != nil {
				return
			}
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if writeEvent(w, ev) != nil {
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// writeEvent writes one event of the stream.
func writeEvent(w http.ResponseWriter, ev observe.Event) error {
	// Whoever published it, an event shows no credentials of a URL.
	ev.Server, ev.Reason = config.RedactURL(ev.Server), config.RedactURLs(ev.Reason)
	data, err := json.Marshal(ev)
	if err != nil {
		return nil // an event that cannot be shown is skipped
	}
	var b strings.Builder
	if t := sseField(ev.Type); t != "" {
		b.WriteString("event: ")
		b.WriteString(t)
		b.WriteByte('\n')
	}
	b.WriteString("data: ")
	b.Write(data) // JSON has no raw newline
	b.WriteString("\n\n")
	_, err = w.Write([]byte(b.String()))
	return err
}

// sseField keeps a value on its line.
func sseField(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
}
