package sim

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"time"

	"github.com/usher-lb/usher/internal/balance"
	"github.com/usher-lb/usher/internal/pool"
)

// never is the time of a source with no event to come.
const never = math.MaxInt64

// Event sources of the scheduler; server k is source srcServers+k. At equal
// times the lower source goes first: scenario changes before the requests that
// they affect.
const (
	srcChange  = iota // the next slowdown or failure to start or end
	srcArrival        // the next client request
	srcFailed         // the oldest failing attempt (they all last failDelay)
	srcTimeout        // the oldest attempt that may time out (they all last Timeout)
	srcServers        // the next request a server finishes
)

// Seeds of the generators, one per purpose so that each algorithm sees the same
// arrivals, work and clients whatever it does.
const (
	streamArrivals = iota + 1
	streamWork
	streamClients
	streamFailures
	streamKeys
	streamPicker // the pickers' own draws (balance.Options.Rand)
)

// engine simulates one algorithm over one scenario.
type engine struct {
	sc      Scenario
	algo    string
	picker  balance.Picker
	servers []*pool.Server
	index   map[*pool.Server]int32
	srv     []server
	changes []change
	sched   sched

	now  int64     // virtual time, nanoseconds since the start
	base time.Time // the time Observe sees at virtual time 0

	arrivals, work, clients, failures, keys *rand.Rand
	clientKeys                              []uint64

	reqs     []request
	free     []int32
	failed   fifo // attempts failing, in the order they end
	deadline fifo // attempts running on a server, in the order they time out

	lat                                  []int64
	errors, timeouts, retries, events    int
	timeout, failAfter, stop, medianWork int64
}

// request is a client request under way, and its current attempt.
type request struct {
	arrive int64   // when the client sent it
	start  int64   // when the current attempt was sent
	work   float64 // its work, in nanoseconds at full speed
	vfin   float64 // the server's attained service at which it ends
	key    uint64  // the client's key
	gen    uint32  // bumped at the end of each attempt: queued events carry it
	hpos   int32   // index in its server's heap; -1 when not on a server
	tries  int32   // attempts so far
	tried  [maxRetries + 1]int32
}

// server is the processor-sharing queue of one server. Every request on it has
// received the same service so far: v, in nanoseconds of work at full speed, at
// time at. A request ends when v reaches its vfin, the server's v when it came
// plus its work.
type server struct {
	speed   float64 // 1 / slowdown factor
	failP   float64 // share of attempts that fail
	workers float64
	v       float64
	at      int64
	jobs    []int32 // requests, a min-heap on vfin
}

// change is a slowdown or failure starting or ending at a time.
type change struct {
	at     int64
	server int32
	slow   bool    // speed, else failure rate
	value  float64 // the new speed or failure rate
}

func newServer(service string, k int) *pool.Server {
	u := &url.URL{Scheme: "http", Host: fmt.Sprintf("10.0.%d.%d:8080", k/250, k%250+1)}
	return pool.NewServer(pool.Key(service, u.String()), u, 1)
}

func newEngine(sc Scenario, algo string, lat []int64) *engine {
	e := &engine{
		sc:        sc,
		algo:      algo,
		index:     make(map[*pool.Server]int32, sc.Servers),
		srv:       make([]server, sc.Servers),
		base:      time.Now(),
		timeout:   int64(sc.Timeout),
		failAfter: int64(failDelay),
		stop:      int64(sc.Duration),
		lat:       lat,
	}
	stream := func(k uint64) *rand.Rand { return rand.New(rand.NewPCG(sc.Seed, k)) }
	e.arrivals, e.work, e.clients = stream(streamArrivals), stream(streamWork), stream(streamClients)
	e.failures, e.keys = stream(streamFailures), stream(streamKeys)
	e.clientKeys = make([]uint64, sc.Clients)
	for i := range e.clientKeys {
		e.clientKeys[i] = e.keys.Uint64()
	}
	e.medianWork = int64(sc.Median)
	if n := int(sc.RPS*sc.Duration.Seconds()*1.05) + 64; cap(e.lat) < n {
		e.lat = make([]int64, 0, n)
	}

	for k := range e.srv {
		s := newServer("sim", k)
		e.servers = append(e.servers, s)
		e.index[s] = int32(k)
		e.srv[k] = server{speed: 1, workers: float64(sc.Workers)}
	}
	p, err := balance.New(balance.Options{Algorithm: algo, Rand: stream(streamPicker).Uint64}, e.servers)
	if err != nil {
		panic("sim: " + err.Error()) // Validate checked the name
	}
	e.picker = p

	for _, s := range sc.Slow {
		e.changes = append(e.changes, change{int64(s.From), int32(s.Server), true, 1 / s.Factor})
		if s.Until > 0 {
			e.changes = append(e.changes, change{int64(s.Until), int32(s.Server), true, 1})
		}
	}
	for _, f := range sc.Fail {
		e.changes = append(e.changes, change{int64(f.From), int32(f.Server), false, f.Rate})
		if f.Until > 0 {
			e.changes = append(e.changes, change{int64(f.Until), int32(f.Server), false, 0})
		}
	}
	slices.SortStableFunc(e.changes, func(a, b change) int { return cmp.Compare(a.at, b.at) })

	e.sched.init(srcServers + sc.Servers)
	if len(e.changes) > 0 {
		e.sched.set(srcChange, e.changes[0].at)
	}
	e.sched.set(srcArrival, 0)
	return e
}

// run simulates until every request has ended.
func (e *engine) run() {
	for {
		src, at := e.sched.top()
		if at == never {
			return
		}
		e.now = at
		e.events++
		switch src {
		case srcChange:
			e.change()
		case srcArrival:
			e.arrive()
		case srcFailed:
			e.failEnd()
		case srcTimeout:
			e.timeoutEnd()
		default:
			e.depart(src - srcServers)
		}
	}
}

// vtime is the time Observe sees at virtual time t: on the millisecond grid of
// pool.Latency's stamps, aligned on the start, so that its averages do not
// depend on where the wall clock's milliseconds fall.
func (e *engine) vtime(t int64) time.Time {
	return e.base.Add(time.Duration(t - t%int64(time.Millisecond)))
}

func (e *engine) change() {
	c := e.changes[0]
	e.changes = e.changes[1:]
	if c.slow {
		s := &e.srv[c.server]
		s.advance(e.now)
		s.speed = c.value
		e.reschedule(int(c.server))
	} else {
		e.srv[c.server].failP = c.value
	}
	next := int64(never)
	if len(e.changes) > 0 {
		next = e.changes[0].at
	}
	e.sched.set(srcChange, next)
}

func (e *engine) arrive() {
	id := e.newRequest()
	r := &e.reqs[id]
	r.arrive = e.now
	r.work = float64(e.medianWork)
	if e.sc.Sigma > 0 {
		r.work *= math.Exp(e.sc.Sigma * e.work.NormFloat64())
	}
	r.key = e.clientKeys[e.clients.IntN(len(e.clientKeys))]
	if s := e.picker.Pick(r.key); s != nil {
		e.send(id, s)
	} else {
		e.end(id, false) // 503: no server available
	}
	next := e.now + int64(e.arrivals.ExpFloat64()/e.sc.RPS*float64(time.Second))
	if next >= e.stop {
		next = never
	}
	e.sched.set(srcArrival, next)
}

// send starts an attempt of request id on s.
func (e *engine) send(id int32, s *pool.Server) {
	k := e.index[s]
	r := &e.reqs[id]
	r.tried[r.tries] = k
	r.tries++
	r.start = e.now
	s.Start()
	srv := &e.srv[k]
	if srv.failP > 0 && e.failures.Float64() < srv.failP {
		e.failed.push(e.now+e.failAfter, id, r.gen)
		e.setFIFO(srcFailed, &e.failed)
		return
	}
	srv.advance(e.now)
	r.vfin = srv.v + r.work
	srv.push(e.reqs, id)
	e.reschedule(int(k))
	e.deadline.push(e.now+e.timeout, id, r.gen)
	e.setFIFO(srcTimeout, &e.deadline)
}

// depart ends the request server k finishes now.
func (e *engine) depart(k int) {
	srv := &e.srv[k]
	srv.advance(e.now)
	id := srv.pop(e.reqs)
	srv.v = max(srv.v, e.reqs[id].vfin) // rounding of the departure time
	e.reschedule(k)
	r := &e.reqs[id]
	rtt := time.Duration(e.now - r.start)
	s := e.servers[k]
	s.Lat.Observe(rtt, rtt, e.vtime(e.now))
	s.Done(false)
	e.end(id, true)
}

// failEnd ends the oldest failing attempt and retries it when it may.
func (e *engine) failEnd() {
	id, gen := e.failed.pop()
	e.setFIFO(srcFailed, &e.failed)
	r := &e.reqs[id]
	if r.gen != gen {
		e.events-- // cannot happen: only failEnd ends a failing attempt
		return
	}
	s := e.servers[r.tried[r.tries-1]]
	s.Lat.Observe(time.Duration(e.now-r.start), 0, e.vtime(e.now))
	s.Done(true)
	r.gen++
	if int(r.tries) <= e.sc.Retries {
		if next := e.retryTo(r); next != nil {
			e.retries++
			e.send(id, next)
			return
		}
	}
	e.end(id, false)
}

// retryTo picks the server of a retry as usher's load balancer does: the
// picker's PickOther, an available server not tried yet, chosen without
// moving what Pick keeps for the requests to come; nil when none is left.
func (e *engine) retryTo(r *request) *pool.Server {
	tried := make([]*pool.Server, r.tries)
	for i, k := range r.tried[:r.tries] {
		tried[i] = e.servers[k]
	}
	return e.picker.PickOther(r.key, tried)
}

// timeoutEnd ends the oldest running attempt, which timed out.
func (e *engine) timeoutEnd() {
	id, gen := e.deadline.pop()
	e.setFIFO(srcTimeout, &e.deadline)
	r := &e.reqs[id]
	if r.gen != gen {
		e.events-- // the attempt ended after its entry came to the head
		return
	}
	k := int(r.tried[r.tries-1])
	srv := &e.srv[k]
	srv.advance(e.now)
	srv.remove(e.reqs, id)
	e.reschedule(k)
	s := e.servers[k]
	s.Lat.Observe(time.Duration(e.now-r.start), 0, e.vtime(e.now))
	s.Done(true)
	e.timeouts++
	e.end(id, false)
}

// setFIFO sets the time of source src to that of q's oldest live entry, after
// dropping the entries of attempts that have ended.
func (e *engine) setFIFO(src int, q *fifo) {
	for q.len() > 0 {
		at, id, gen := q.peek()
		if e.reqs[id].gen == gen {
			e.sched.set(src, at)
			return
		}
		q.pop()
	}
	e.sched.set(src, never)
}

// reschedule sets when server k finishes its next request.
func (e *engine) reschedule(k int) {
	srv := &e.srv[k]
	if len(srv.jobs) == 0 {
		e.sched.set(srcServers+k, never)
		return
	}
	left := e.reqs[srv.jobs[0]].vfin - srv.v
	e.sched.set(srcServers+k, e.now+max(0, int64(math.Ceil(left/srv.rate()))))
}

// end ends request id: ok or an error for the client.
func (e *engine) end(id int32, ok bool) {
	r := &e.reqs[id]
	e.lat = append(e.lat, e.now-r.arrive)
	if !ok {
		e.errors++
	}
	r.gen++
	e.free = append(e.free, id)
}

func (e *engine) newRequest() int32 {
	if n := len(e.free); n > 0 {
		id := e.free[n-1]
		e.free = e.free[:n-1]
		r := &e.reqs[id]
		*r = request{gen: r.gen, hpos: -1}
		return id
	}
	e.reqs = append(e.reqs, request{hpos: -1})
	return int32(len(e.reqs) - 1)
}

func (e *engine) result() AlgorithmResult {
	res := AlgorithmResult{
		Algorithm: e.algo,
		Requests:  len(e.lat),
		Errors:    e.errors,
		Timeouts:  e.timeouts,
		Retries:   e.retries,
		Events:    e.events,
		Share:     make([]float64, len(e.servers)),
	}
	if res.Requests > 0 {
		res.ErrorRate = float64(res.Errors) / float64(res.Requests)
	}
	var total uint64
	for _, s := range e.servers {
		total += s.Requests()
	}
	for k, s := range e.servers {
		if total > 0 {
			res.Share[k] = float64(s.Requests()) / float64(total)
		}
	}
	slices.Sort(e.lat)
	res.P50, res.P99, res.P999 = percentile(e.lat, 0.5), percentile(e.lat, 0.99), percentile(e.lat, 0.999)
	return res
}

// percentile is the nearest-rank percentile p of sorted.
func percentile(sorted []int64, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return time.Duration(sorted[max(0, min(i, len(sorted)-1))])
}

// rate is the service each request on the server receives per nanosecond.
func (s *server) rate() float64 {
	return s.speed * min(1, s.workers/float64(len(s.jobs)))
}

// advance brings the attained service v to time now.
func (s *server) advance(now int64) {
	if len(s.jobs) > 0 {
		s.v += s.rate() * float64(now-s.at)
	}
	s.at = now
}

// The server's requests are a binary min-heap on (vfin, id), each request
// knowing its index (hpos) so that a timeout removes it.

func (s *server) push(reqs []request, id int32) {
	s.jobs = append(s.jobs, id)
	reqs[id].hpos = int32(len(s.jobs) - 1)
	s.up(reqs, len(s.jobs)-1)
}

func (s *server) pop(reqs []request) int32 {
	id := s.jobs[0]
	s.remove(reqs, id)
	return id
}

func (s *server) remove(reqs []request, id int32) {
	i := int(reqs[id].hpos)
	last := len(s.jobs) - 1
	if i != last {
		s.swap(reqs, i, last)
	}
	s.jobs = s.jobs[:last]
	reqs[id].hpos = -1
	if i != last {
		s.down(reqs, i)
		s.up(reqs, i)
	}
}

func (s *server) less(reqs []request, i, j int) bool {
	a, b := s.jobs[i], s.jobs[j]
	if reqs[a].vfin != reqs[b].vfin {
		return reqs[a].vfin < reqs[b].vfin
	}
	return a < b
}

func (s *server) swap(reqs []request, i, j int) {
	s.jobs[i], s.jobs[j] = s.jobs[j], s.jobs[i]
	reqs[s.jobs[i]].hpos = int32(i)
	reqs[s.jobs[j]].hpos = int32(j)
}

func (s *server) up(reqs []request, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(reqs, i, p) {
			return
		}
		s.swap(reqs, i, p)
		i = p
	}
}

func (s *server) down(reqs []request, i int) {
	n := len(s.jobs)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && s.less(reqs, c+1, c) {
			c++
		}
		if !s.less(reqs, c, i) {
			return
		}
		s.swap(reqs, i, c)
		i = c
	}
}

// sched is the event heap: an indexed binary min-heap of the event sources on
// (time of their next event, source), each source in it once.
type sched struct {
	at   []int64 // next event of each source; never when none
	heap []int32 // sources
	pos  []int32 // index of each source in heap
}

func (h *sched) init(n int) {
	h.at = make([]int64, n)
	h.heap = make([]int32, n)
	h.pos = make([]int32, n)
	for i := range n {
		h.at[i] = never
		h.heap[i] = int32(i)
		h.pos[i] = int32(i)
	}
}

func (h *sched) top() (src int, at int64) {
	src = int(h.heap[0])
	return src, h.at[src]
}

// set sets the time of source src's next event.
func (h *sched) set(src int, at int64) {
	old := h.at[src]
	h.at[src] = at
	i := int(h.pos[src])
	if at < old {
		h.up(i)
	} else if at > old {
		h.down(i)
	}
}

func (h *sched) less(i, j int) bool {
	a, b := h.heap[i], h.heap[j]
	if h.at[a] != h.at[b] {
		return h.at[a] < h.at[b]
	}
	return a < b
}

func (h *sched) swap(i, j int) {
	h.heap[i], h.heap[j] = h.heap[j], h.heap[i]
	h.pos[h.heap[i]] = int32(i)
	h.pos[h.heap[j]] = int32(j)
}

func (h *sched) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *sched) down(i int) {
	n := len(h.heap)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && h.less(c+1, c) {
			c++
		}
		if !h.less(c, i) {
			return
		}
		h.swap(i, c)
		i = c
	}
}

// fifo is a queue of (time, request, generation) for events of a fixed delay,
// which end in the order they began.
type fifo struct {
	q    []fifoEntry
	head int
}

type fifoEntry struct {
	at  int64
	id  int32
	gen uint32
}

func (f *fifo) len() int { return len(f.q) - f.head }

func (f *fifo) push(at int64, id int32, gen uint32) {
	if f.head > 1024 && f.head*2 > len(f.q) {
		n := copy(f.q, f.q[f.head:])
		f.q, f.head = f.q[:n], 0
	}
	f.q = append(f.q, fifoEntry{at, id, gen})
}

func (f *fifo) peek() (int64, int32, uint32) {
	x := f.q[f.head]
	return x.at, x.id, x.gen
}

func (f *fifo) pop() (int32, uint32) {
	x := f.q[f.head]
	f.head++
	return x.id, x.gen
}
