// Package waf implements the waf middleware: requests, and responses when
// asked, are inspected by Coraza with the OWASP Core Rule Set (CRS) built
// into usher, in the CRS's anomaly scoring mode.
//
// What a client sees: a request whose anomaly score reaches
// inboundAnomalyThreshold gets 403 with a short text/plain body naming its
// request id, and never reaches the server; a request body over
// requestBodyLimit gets 413 (onRequestBodyLimit: reject) or has its first
// requestBodyLimit bytes inspected and the rest passed unread (inspectPart);
// a body that does not parse as its Content-Type says (JSON, XML, multipart)
// gets 400, since it would otherwise go uninspected. With responseInspection,
// the response's headers are inspected, and a body of one of
// responseBodyTypes is held, up to responseBodyLimit, and inspected before it
// is sent: a leak (SQL errors, stack traces, directory listings) turns it into
// a 403. A response that flushes (a stream) is inspected up to the flush and
// sent on from there uninspected. In detect mode every request goes on as
// though the WAF were not there.
//
// What an operator sees: each request refused (or, in detect mode, that would
// have been) is a warn line of usher's log, "waf: request blocked" or "waf:
// request detected", with the middleware, the client IP, the request id, the
// method and path, the status, and each rule that matched: its id, message,
// severity and the names of the variables it matched (ARGS:q,
// REQUEST_HEADERS:User-Agent), never their values, so that neither a body nor
// a cookie or Authorization header reaches the log. Matches below the
// threshold are logged at debug. They are counted in
// usher_middleware_decisions_total{kind="waf"} as deny (blocked), detect, and
// allow.
//
// The rule set is compiled once per distinct setting (see settings) and
// shared by every middleware, router and snapshot that has those settings;
// rule exclusions and the mode are applied per request and do not make
// another copy.
package waf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/corazawaf/coraza/v3/experimental"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/middleware/env"
	"github.com/usher-lb/usher/internal/middleware/internal/reqinfo"
	"github.com/usher-lb/usher/internal/observe"
)

type handler struct {
	next    http.Handler
	name    string
	rs      *ruleSet
	newTx   experimental.WAFWithOptions
	detect  bool
	respOn  bool
	exclude []int // ids of the rules that do not run (excludeRules and excludeTags)
	log     *slog.Logger
	dec     *env.Decisions
}

// excluder is what Coraza's transactions have to remove a rule for one
// transaction, as ctl:ruleRemoveById does.
type excluder interface{ RemoveRuleByID(id int) }

// New returns the waf middleware around next (see the package doc).
func New(ctx context.Context, next http.Handler, cfg *config.WAF, name string) (http.Handler, error) {
	s, err := settingsOf(cfg)
	if err != nil {
		return nil, fmt.Errorf("waf: %w", err)
	}
	e := env.From(ctx)
	rs, err := env.Keep(e, "waf", name, s.key(), func() (*ruleSet, func(), error) {
		return acquire(s, e.Log)
	})
	if err != nil {
		return nil, fmt.Errorf("waf: %w", err)
	}
	newTx, ok := rs.waf.(experimental.WAFWithOptions)
	if !ok {
		return nil, errors.New("waf: this Coraza cannot make transactions with options")
	}
	probe := newTx.NewTransactionWithOptions(experimental.Options{ID: "probe"})
	_, canExclude := probe.(excluder)
	probe.Close()
	if !canExclude && (len(cfg.ExcludeRules) > 0 || len(cfg.ExcludeTags) > 0) {
		return nil, errors.New("waf: this Coraza cannot exclude rules per transaction")
	}
	h := &handler{
		next:   next,
		name:   name,
		rs:     rs,
		newTx:  newTx,
		detect: cfg.Mode == "detect",
		respOn: cfg.ResponseInspection,
		log:    e.Log,
		dec:    e.Decisions("waf", name),
	}
	for _, id := range cfg.ExcludeRules {
		if !rs.ids[id] {
			e.Log.Warn("waf: excludeRules names no rule of the rule set", "middleware", name, "id", id)
		}
		h.exclude = append(h.exclude, id)
	}
	for _, tag := range cfg.ExcludeTags {
		ids := rs.tags[tag]
		if len(ids) == 0 {
			e.Log.Warn("waf: excludeTags names no tag of the rule set", "middleware", name, "tag", tag)
		}
		h.exclude = append(h.exclude, ids...)
	}
	slices.Sort(h.exclude)
	h.exclude = slices.Compact(h.exclude)
	return h, nil
}

// settingsOf reads cfg, with its defaults, and the user's rule files.
func settingsOf(cfg *config.WAF) (*settings, error) {
	s := &settings{
		paranoia:  cfg.ParanoiaLevel,
		inbound:   cfg.InboundAnomalyThreshold,
		outbound:  cfg.OutboundAnomalyThreshold,
		reqLimit:  config.WAFRequestBodyLimit,
		respLimit: config.WAFResponseBodyLimit,
		respTypes: cfg.ResponseBodyTypes,
		methods:   cfg.AllowedMethods,
	}
	if len(s.methods) == 0 {
		s.methods = config.WAFAllowedMethods
	}
	for i, m := range s.methods {
		if m == "" || strings.ContainsAny(m, " \t'\"\\,") {
			return nil, fmt.Errorf("allowedMethods[%d]: %q is not a method", i, m)
		}
	}
	switch {
	case s.paranoia == 0:
		s.paranoia = config.WAFParanoiaLevel
	case s.paranoia < 1 || s.paranoia > 4:
		return nil, fmt.Errorf("paranoiaLevel: paranoia levels are 1 to 4, got %d", s.paranoia)
	}
	switch {
	case s.inbound == 0:
		s.inbound = config.WAFInboundAnomalyThreshold
	case s.inbound < 0:
		return nil, fmt.Errorf("inboundAnomalyThreshold: must be 1 or more, got %d", s.inbound)
	}
	switch {
	case s.outbound == 0:
		s.outbound = config.WAFOutboundAnomalyThreshold
	case s.outbound < 0:
		return nil, fmt.Errorf("outboundAnomalyThreshold: must be 1 or more, got %d", s.outbound)
	}
	switch cfg.Mode {
	case "", "block", "detect":
	default:
		return nil, fmt.Errorf("mode: %q is not one of block, detect", cfg.Mode)
	}
	switch cfg.OnRequestBodyLimit {
	case "", "reject":
	case "inspectPart":
		s.reqPartial = true
	default:
		return nil, fmt.Errorf("onRequestBodyLimit: %q is not one of reject, inspectPart", cfg.OnRequestBodyLimit)
	}
	if l := cfg.RequestBodyLimit; l != nil {
		if *l < 0 || *l > config.WAFMaxBodyLimit {
			return nil, fmt.Errorf("requestBodyLimit: must be 0 to 64MiB, got %d bytes", int64(*l))
		}
		s.reqLimit = int64(*l)
	}
	if cfg.ResponseInspection {
		s.respInspect = true
		if l := cfg.ResponseBodyLimit; l != nil {
			if *l < 1 || *l > config.WAFMaxBodyLimit {
				return nil, fmt.Errorf("responseBodyLimit: must be 1 byte to 64MiB, got %d bytes", int64(*l))
			}
			s.respLimit = int64(*l)
		}
		if len(s.respTypes) == 0 {
			s.respTypes = config.WAFResponseBodyTypes
		}
		for i, t := range s.respTypes {
			if strings.ContainsAny(t, " \t;,\"") || !strings.Contains(t, "/") {
				return nil, fmt.Errorf("responseBodyTypes[%d]: %q is not a media type", i, t)
			}
		}
	} else {
		// Not part of the rule set's settings: off, they change nothing.
		s.respLimit, s.respTypes = 0, nil
	}
	for i, r := range cfg.Rules {
		s.user = append(s.user, splitDirectives(r, fmt.Sprintf("rules[%d]", i), "")...)
	}
	for i, f := range cfg.RulesFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("rulesFiles[%d]: %w", i, err)
		}
		s.user = append(s.user, splitDirectives(string(b), fmt.Sprintf("rulesFiles[%d]", i), f)...)
	}
	for _, d := range s.user {
		if strings.HasPrefix(strings.ToLower(d.text), "secruleengine") {
			return nil, fmt.Errorf("%s: SecRuleEngine is usher's to set: use mode: block or detect", d.where)
		}
	}
	return s, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := observe.From(w)
	var opts experimental.Options
	opts.Context = r.Context()
	client := ""
	if rec != nil {
		opts.ID = rec.RequestID
		if rec.ClientIP.IsValid() {
			client = rec.ClientIP.String()
		}
	}
	if client == "" {
		client, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	tx := h.newTx.NewTransactionWithOptions(opts)
	var body *bodyReader
	defer func() {
		// The server may still hold r.Body (a proxy writing it when the
		// answer came first): it must stop reading the transaction's
		// buffer before the buffer goes back to Coraza's pool.
		if body != nil {
			body.detach()
		}
		tx.Close()
	}()
	if ex, ok := tx.(excluder); ok {
		for _, id := range h.exclude {
			ex.RemoveRuleByID(id)
		}
	}

	it, body, err := h.request(tx, r, client)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "413 Request Entity Too Large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "400 Bad Request: the request body could not be read", http.StatusBadRequest)
		}
		if rec != nil && rec.Error == "" {
			rec.Error = observe.ErrClientBody
		}
		return
	}
	if it != nil {
		h.report(r, tx, it, client, opts.ID)
		if !h.detect {
			h.dec.Deny()
			refuse(w, r, it, opts.ID)
			return
		}
		h.dec.Detect()
		// Interrupted, Coraza evaluates nothing more: the rest of the
		// exchange goes as though the WAF were not there.
		h.next.ServeHTTP(w, r)
		return
	}
	if !h.respOn {
		h.quiet(r, tx, client, opts.ID)
		h.dec.Allow()
		h.next.ServeHTTP(w, r)
		return
	}
	iw := &inspector{w: w, tx: tx, h: h, r: r, client: client, id: opts.ID}
	h.next.ServeHTTP(iw.wrap(), r)
	iw.finish()
	switch {
	case iw.blocked:
		h.dec.Deny()
	case iw.detected:
		h.dec.Detect()
	default:
		h.quiet(r, tx, client, opts.ID)
		h.dec.Allow()
	}
}

// request runs the request's phases (connection, URI, headers, body) in tx
// and returns the interruption, if any, and the reader of the body that now
// stands in r.Body, if it was read.
func (h *handler) request(tx types.Transaction, r *http.Request, client string) (*types.Interruption, *bodyReader, error) {
	tx.ProcessConnection(client, 0, "", 0)
	tx.ProcessURI(reqinfo.RequestURI(r), r.Method, r.Proto)
	for k, vs := range r.Header {
		for _, v := range vs {
			tx.AddRequestHeader(k, v)
		}
	}
	// Go's server takes Host and Transfer-Encoding out of the header map;
	// the CRS has rules on both (a missing Host, TE smuggling).
	if r.Host != "" {
		tx.AddRequestHeader("Host", r.Host)
		tx.SetServerName(reqinfo.Hostname(r.Host))
	}
	for _, te := range r.TransferEncoding {
		tx.AddRequestHeader("Transfer-Encoding", te)
	}
	// A body of known length whose header an earlier hop dropped (a
	// buffering middleware, a request made in code) still has one.
	if r.ContentLength > 0 && len(r.Header["Content-Length"]) == 0 {
		tx.AddRequestHeader("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	if it := tx.ProcessRequestHeaders(); it != nil {
		return it, nil, nil
	}
	var body *bodyReader
	if tx.IsRequestBodyAccessible() && r.Body != nil && r.Body != http.NoBody {
		it, _, err := tx.ReadRequestBodyFrom(r.Body)
		if err != nil {
			return nil, nil, err
		}
		rbr, err := tx.RequestBodyReader()
		if err != nil {
			return nil, nil, err
		}
		// What was read, then what is left past the limit (inspectPart,
		// or a request over it in detect mode).
		body = &bodyReader{buf: rbr, orig: r.Body}
		r.Body = body
		if it != nil {
			return it, body, nil
		}
	}
	it, err := tx.ProcessRequestBody()
	return it, body, err
}

// bodyReader is the request body once inspected: its first part from the
// transaction's buffer, then the rest from the client. Reading the buffer
// after detach fails; the client's part is read without the lock, so that
// a slow client never holds up the end of the request.
type bodyReader struct {
	mu       sync.Mutex
	buf      io.Reader // the transaction's buffer; nil once read
	orig     io.ReadCloser
	detached bool
}

var errBodyGone = errors.New("waf: request body read after the request ended")

func (b *bodyReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.buf != nil {
		if b.detached {
			b.mu.Unlock()
			return 0, errBodyGone
		}
		n, err := b.buf.Read(p)
		if err == io.EOF {
			b.buf, err = nil, nil
		}
		b.mu.Unlock()
		if n > 0 || err != nil {
			return n, err
		}
	} else {
		b.mu.Unlock()
	}
	return b.orig.Read(p)
}

func (b *bodyReader) Close() error { return b.orig.Close() }

func (b *bodyReader) detach() {
	b.mu.Lock()
	b.detached = true
	b.mu.Unlock()
}

// refuse answers the request for Coraza's interruption: a deny's status
// (403 unless the rule says otherwise: 413 over the body limit, 400 for a
// body that does not parse), with a short text body.
func refuse(w http.ResponseWriter, r *http.Request, it *types.Interruption, id string) {
	status := it.Status
	if status < 400 || status > 599 {
		status = http.StatusForbidden
	}
	if it.Action == "redirect" && it.Data != "" {
		st := it.Status
		if st < 300 || st > 399 {
			st = http.StatusFound
		}
		http.Redirect(w, r, it.Data, st)
		return
	}
	if it.Action == "drop" {
		w.Header().Set("Connection", "close")
	}
	var msg string
	switch status {
	case http.StatusForbidden:
		msg = "403 Forbidden: the request was refused by the web application firewall"
	case http.StatusRequestEntityTooLarge:
		msg = "413 Request Entity Too Large: the request body is longer than the firewall inspects"
	case http.StatusBadRequest:
		msg = "400 Bad Request: the request body does not parse as its Content-Type says"
	default:
		msg = fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	if id != "" {
		msg += " (request id " + id + ")"
	}
	http.Error(w, msg, status)
}
