package waf

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/corazawaf/coraza/v3/types"
)

// match is one rule that matched, as the audit log shows it: never a value
// of what it matched (a body, a cookie, an Authorization header), only the
// variables' names.
type match struct {
	ID       int      `json:"id"`
	Message  string   `json:"msg"`
	Severity string   `json:"severity,omitempty"`
	Vars     []string `json:"vars,omitempty"`
}

// Bounds of what one line of the audit log holds, whatever the request.
const (
	maxMatches = 16
	maxVars    = 8
	maxName    = 64  // a variable's name or key
	maxMsg     = 160 // a rule's message
	maxPath    = 256
)

// matches lists the rules of tx that matched and say why (those with a
// message: the CRS's bookkeeping rules have none), in the order they ran.
func matches(tx types.Transaction) []match {
	var out []match
	for _, mr := range tx.MatchedRules() {
		msg := mr.Message()
		// CRS's initialisation (9000xx-9019xx) says what it set up.
		if id := mr.Rule().ID(); msg == "" || (id >= 900000 && id < 902000) {
			continue
		}
		if len(out) == maxMatches {
			break
		}
		m := match{ID: mr.Rule().ID(), Message: cut(msg, maxMsg)}
		if s := mr.Rule().Severity(); s >= 0 {
			m.Severity = s.String()
		}
		for _, md := range mr.MatchedDatas() {
			name := md.Variable().Name()
			if k := md.Key(); k != "" {
				name += ":" + k
			}
			name = cut(name, maxName)
			if len(m.Vars) < maxVars && !contains(m.Vars, name) {
				m.Vars = append(m.Vars, name)
			}
		}
		out = append(out, m)
	}
	return out
}

// report logs a request refused, or that would have been in detect mode.
func (h *handler) report(r *http.Request, tx types.Transaction, it *types.Interruption, client, id string) {
	msg, action := "waf: request blocked", "blocked"
	if h.detect {
		msg, action = "waf: request detected", "detected"
	}
	status := it.Status
	if status == 0 {
		status = http.StatusForbidden
	}
	h.log.LogAttrs(context.Background(), slog.LevelWarn, msg, h.attrs(r, tx, client, id,
		slog.String("action", action), slog.Int("status", status), slog.Int("rule", it.RuleID))...)
}

// quiet logs, at debug, the matches of a request that passed under the
// threshold: what to look at when tuning one.
func (h *handler) quiet(r *http.Request, tx types.Transaction, client, id string) {
	if !h.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	if len(tx.MatchedRules()) == 0 {
		return
	}
	ms := matches(tx)
	if len(ms) == 0 {
		return
	}
	h.log.LogAttrs(context.Background(), slog.LevelDebug, "waf: rules matched under the threshold",
		h.attrs(r, tx, client, id, slog.String("action", "passed"))...)
}

func (h *handler) attrs(r *http.Request, tx types.Transaction, client, id string, extra ...slog.Attr) []slog.Attr {
	a := []slog.Attr{
		slog.String("middleware", h.name),
		slog.String("clientIP", client),
		slog.String("requestId", id),
		slog.String("method", cut(r.Method, maxName)),
		// The path only: a query can carry tokens.
		slog.String("path", cut(r.URL.Path, maxPath)),
	}
	a = append(a, extra...)
	return append(a, slog.Any("rules", matches(tx)))
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
