package waf

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental"
	"github.com/corazawaf/coraza/v3/types"
)

// settings are what a compiled rule set depends on: two middlewares with the
// same settings share one. Exclusions and the mode are not among them: they
// are applied per transaction (see handler), so that routers that differ only
// in those do not each hold a copy of the CRS.
type settings struct {
	paranoia, inbound, outbound int
	reqLimit                    int64 // 0: request bodies not inspected
	reqPartial                  bool  // over reqLimit: inspect the first part (else 413)
	respInspect                 bool
	respLimit                   int64
	respTypes                   []string
	methods                     []string
	user                        []directive // own directives, in order
}

// directive is one of the user's directives, with where it came from for
// error messages.
type directive struct {
	text  string
	where string // "rules[2]" or "rulesFiles[0] (extra.conf:12)"
	after bool   // changes rules already defined: goes after the CRS
}

// splitDirectives cuts text into directives: lines ending in a backslash
// continue on the next, blank lines and # comments are dropped. where names
// the text's origin; when it is a file, each directive's file and line are
// added to it.
func splitDirectives(text, where, file string) []directive {
	var out []directive
	var cur strings.Builder
	start := 0
	flush := func() {
		d := strings.TrimSpace(cur.String())
		cur.Reset()
		if d == "" {
			return
		}
		w := where
		if file != "" {
			w = fmt.Sprintf("%s (%s:%d)", where, file, start)
		}
		name, _, _ := strings.Cut(d, " ")
		name = strings.ToLower(name)
		out = append(out, directive{
			text:  d,
			where: w,
			after: strings.HasPrefix(name, "secruleremove") || strings.HasPrefix(name, "secruleupdate"),
		})
	}
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		if cur.Len() == 0 {
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			start = i + 1
		}
		if strings.HasSuffix(t, "\\") {
			cur.WriteString(strings.TrimSuffix(t, "\\"))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(t)
		flush()
	}
	flush()
	return out
}

// directives is the whole configuration Coraza compiles for s, with the
// user's directives up to n (all of them when n < 0).
func (s *settings) directives(n int) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	// The engine always runs On: in detect mode the middleware lets an
	// interrupted request through itself, so that both modes share one
	// compiled rule set and a detection is exactly a block not enforced.
	line("SecRuleEngine On")
	if s.reqLimit > 0 {
		line("SecRequestBodyAccess On")
		line("SecRequestBodyLimit %d", s.reqLimit)
		// Held in memory: Coraza's spill to temporary files is not used.
		line("SecRequestBodyInMemoryLimit %d", s.reqLimit)
		if s.reqPartial {
			line("SecRequestBodyLimitAction ProcessPartial")
		} else {
			line("SecRequestBodyLimitAction Reject")
		}
	} else {
		line("SecRequestBodyAccess Off")
	}
	line("SecRequestBodyJsonDepthLimit 1024")
	// Body processors by Content-Type, and refusing bodies that do not parse
	// as what they claim (a JSON body that is not JSON would otherwise go
	// uninspected), as Coraza's recommended configuration does.
	line(`SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"`)
	line(`SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"`)
	line(`SecRule REQUEST_HEADERS:Content-Type "^application/[a-z0-9.-]+[+]json" "id:200006,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"`)
	line(`SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.',severity:2"`)
	line(`SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation.'"`)
	if s.respInspect {
		line("SecResponseBodyAccess On")
		line("SecResponseBodyMimeType %s", strings.Join(s.respTypes, " "))
		line("SecResponseBodyLimit %d", s.respLimit)
		line("SecResponseBodyLimitAction ProcessPartial")
	} else {
		line("SecResponseBodyAccess Off")
	}
	line("SecAuditEngine Off")
	line("Include @crs-setup.conf.example")
	line(`SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d"`, s.paranoia)
	line(`SecAction "id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold=%d,setvar:tx.outbound_anomaly_score_threshold=%d"`, s.inbound, s.outbound)
	line(`SecAction "id:900200,phase:1,pass,t:none,nolog,setvar:'tx.allowed_methods=%s'"`, strings.Join(s.methods, " "))
	user := s.user
	if n >= 0 {
		user = user[:n]
	}
	for _, d := range user {
		if !d.after {
			line("%s", d.text)
		}
	}
	line("Include @owasp_crs/*.conf")
	for _, d := range user {
		if d.after {
			line("%s", d.text)
		}
	}
	return b.String()
}

// key is the digest of the directives: the cache key of the rule set.
func (s *settings) key() string {
	sum := sha256.Sum256([]byte(s.directives(-1)))
	return hex.EncodeToString(sum[:16])
}

// ruleSet is one compiled configuration, shared by every middleware with the
// same settings and safe for concurrent use.
type ruleSet struct {
	waf  coraza.WAF
	ids  map[int]bool     // ids of the rules it has
	tags map[string][]int // ids of the rules of each tag
}

func compile(s *settings) (*ruleSet, error) {
	rs := &ruleSet{ids: map[int]bool{}, tags: map[string][]int{}}
	w, err := newWAF(s.directives(-1), func(m types.RuleMetadata) {
		rs.ids[m.ID()] = true
		for _, t := range m.Tags() {
			rs.tags[t] = append(rs.tags[t], m.ID())
		}
	})
	if err != nil {
		return nil, blame(s, err)
	}
	rs.waf = w
	return rs, nil
}

func newWAF(directives string, observe func(types.RuleMetadata)) (coraza.WAF, error) {
	cfg := coraza.NewWAFConfig().WithRootFS(rootFS{}).WithDirectives(directives)
	if observe != nil {
		cfg = experimental.WAFConfigWithRuleObserver(cfg, observe)
	}
	return coraza.NewWAF(cfg)
}

// blame finds the user's directive that makes the configuration fail: the
// first n for which the configuration with the user's first n directives
// fails (a directive added never mends an error), by bisection, since
// Coraza's errors do not say where. The CRS alone always compiles.
func blame(s *settings, err error) error {
	msg := strings.TrimPrefix(err.Error(), "invalid WAF config from string: ")
	if len(s.user) == 0 {
		return fmt.Errorf("rule set: %s", msg)
	}
	// A probe that compiles is closed at once: it lets go of its share of
	// Coraza's pattern cache.
	fails := func(n int) error {
		w, e := newWAF(s.directives(n), nil)
		if cl, ok := w.(experimental.WAFCloser); ok && e == nil {
			cl.Close()
		}
		return e
	}
	lo, hi := 1, len(s.user) // the answer is in [lo, hi]
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) != nil {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if e := fails(lo); e != nil {
		msg = strings.TrimPrefix(e.Error(), "invalid WAF config from string: ")
	}
	return fmt.Errorf("%s: %s", s.user[lo-1].where, msg)
}

// cache holds the compiled rule sets by key, with the number of middlewares
// (in any snapshot) that hold each: peers that compile the CRS per site grow
// to gigabytes; usher compiles it once per distinct setting.
var cache = struct {
	sync.Mutex
	m map[string]*cached
}{m: map[string]*cached{}}

type cached struct {
	ready chan struct{} // closed once rs or err is set
	rs    *ruleSet
	err   error
	refs  int
}

// acquire returns the rule set of s, compiling it when no middleware holds
// one, and the function that lets go of it.
func acquire(s *settings, log *slog.Logger) (*ruleSet, func(), error) {
	key := s.key()
	cache.Lock()
	c, ok := cache.m[key]
	if !ok {
		c = &cached{ready: make(chan struct{})}
		cache.m[key] = c
	}
	c.refs++
	cache.Unlock()
	if !ok {
		start := time.Now()
		c.rs, c.err = compile(s)
		close(c.ready)
		if c.err == nil {
			log.Info("waf: rule set compiled", "rules", len(c.rs.ids), "paranoiaLevel", s.paranoia, "took", time.Since(start).Round(time.Millisecond).String(), "key", key[:12])
		}
	}
	<-c.ready
	var once sync.Once
	release := func() {
		once.Do(func() {
			cache.Lock()
			defer cache.Unlock()
			c.refs--
			if c.refs == 0 && cache.m[key] == c {
				delete(cache.m, key)
				if cl, ok := c.rs.waf.(experimental.WAFCloser); ok && c.err == nil {
					cl.Close()
				}
			}
		})
	}
	if c.err != nil {
		// Not kept: the next try compiles again (the files may be fixed).
		cache.Lock()
		c.refs--
		if cache.m[key] == c {
			delete(cache.m, key)
		}
		cache.Unlock()
		return nil, nil, c.err
	}
	return c.rs, release, nil
}

// cached reports how many rule sets are compiled and held (for tests).
func cachedSets() int {
	cache.Lock()
	defer cache.Unlock()
	return len(cache.m)
}

// rootFS is what directives read: the CRS's files (their names start with
// @, as in "Include @owasp_crs/*.conf") and, for the user's own directives,
// the file system (@pmFromFile data, Include of their files), with relative
// names relative to the working directory.
type rootFS struct{}

func crsName(name string) (string, bool) {
	if i := strings.IndexByte(name, '@'); i >= 0 {
		return name[i:], true
	}
	return "", false
}

func (rootFS) Open(name string) (fs.File, error) {
	if n, ok := crsName(name); ok {
		return coreruleset.FS.Open(n)
	}
	return os.Open(name)
}

func (rootFS) ReadFile(name string) ([]byte, error) {
	if n, ok := crsName(name); ok {
		return fs.ReadFile(coreruleset.FS, n)
	}
	return os.ReadFile(name)
}

func (rootFS) Glob(pattern string) ([]string, error) {
	if n, ok := crsName(pattern); ok {
		return fs.Glob(coreruleset.FS, n)
	}
	return filepath.Glob(pattern)
}
