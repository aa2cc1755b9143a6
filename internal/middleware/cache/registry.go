package cache

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// The caches running in this process, by middleware name, for the admin
// API's purge and stats and for the metrics. A cache joins when its state
// is made and leaves when the last snapshot that used it is gone.
var (
	liveMu sync.Mutex
	live   = map[*state]bool{}
)

func register(st *state) {
	liveMu.Lock()
	live[st] = true
	liveMu.Unlock()
}

func unregister(st *state) {
	liveMu.Lock()
	delete(live, st)
	liveMu.Unlock()
}

func caches(name string) []*state {
	liveMu.Lock()
	defer liveMu.Unlock()
	var out []*state
	for st := range live {
		if name == "" || st.name == name {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b *state) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	return out
}

// ErrNoCache is what Purge and Stats return when no cache middleware of
// that name runs.
var ErrNoCache = errors.New("no cache middleware of that name is running")

// Stats are one cache's figures.
type Stats struct {
	Middleware    string `json:"middleware"`
	Store         string `json:"store"`
	Entries       int64  `json:"entries"`
	Bytes         int64  `json:"bytes"` // -1: the store cannot tell (redis)
	Hits          int64  `json:"hits"`
	Misses        int64  `json:"misses"`
	Stale         int64  `json:"stale"`
	Revalidations int64  `json:"revalidations"`
	Coalesced     int64  `json:"coalesced"`
	Bypass        int64  `json:"bypass"`
	StoredBytes   int64  `json:"storedBytes"`
	// Routers are the GETs and HEADs of each router this cache saw, and how
	// many it answered from its store (fresh or stale).
	Routers map[string]RouterStats `json:"routers"`
}

// RouterStats are one router's figures in a cache.
type RouterStats struct {
	Requests int64 `json:"requests"`
	Hits     int64 `json:"hits"`
}

// AllStats returns the figures of the caches called name ("": all).
func AllStats(ctx context.Context, name string) ([]Stats, error) {
	sts := caches(name)
	if len(sts) == 0 && name != "" {
		return nil, ErrNoCache
	}
	out := make([]Stats, 0, len(sts))
	for _, st := range sts {
		s := Stats{Middleware: st.name, Store: st.kind,
			Hits: st.c.Hits.Load(), Misses: st.c.Misses.Load(), Stale: st.c.Stale.Load(),
			Revalidations: st.c.Revalidations.Load(), Coalesced: st.c.Coalesced.Load(),
			Bypass: st.c.Bypass.Load(), StoredBytes: st.c.StoredBytes.Load()}
		s.Routers = map[string]RouterStats{}
		st.routers.Range(func(k, v any) bool {
			rc := v.(*routerCounters)
			s.Routers[k.(string)] = RouterStats{Requests: rc.requests.Load(), Hits: rc.hits.Load()}
			return true
		})
		ss, err := st.store.Stats(ctx)
		if err != nil {
			return nil, err
		}
		s.Entries, s.Bytes = ss.Entries, ss.Bytes
		out = append(out, s)
	}
	return out, nil
}

// Purge removes what sel selects from the caches called name ("": all),
// and tells how many entries went.
func Purge(ctx context.Context, name string, sel Selector) (int, error) {
	sts := caches(name)
	if len(sts) == 0 && name != "" {
		return 0, ErrNoCache
	}
	total := 0
	for _, st := range sts {
		n, err := st.store.Purge(ctx, sel)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Collector returns the Prometheus collector of every cache of the process:
// usher_cache_requests_total{middleware, result} (hit, miss, stale,
// revalidation, coalesced, bypass), usher_cache_stored_bytes_total and
// usher_cache_entries, usher_cache_bytes (memory stores). Labels are
// middleware names, from the configuration.
func Collector() prometheus.Collector { return collector{} }

var (
	descRequests = prometheus.NewDesc("usher_cache_requests_total",
		"Requests a cache middleware saw, by what became of them: hit (fresh from the store), miss (forwarded, nothing usable stored), stale (a stale entry served: max-stale, stale-while-revalidate, stale-if-error), revalidation (a conditional request sent), coalesced (waited for another request's fetch), bypass (not for the cache: unsafe methods, preconditions, upgrades).",
		[]string{"middleware", "result"}, nil)
	descStored  = prometheus.NewDesc("usher_cache_stored_bytes_total", "Body bytes a cache middleware put in its store.", []string{"middleware"}, nil)
	descEntries = prometheus.NewDesc("usher_cache_entries", "Entries in a cache middleware's store (memory stores).", []string{"middleware"}, nil)
	descBytes   = prometheus.NewDesc("usher_cache_bytes", "Bytes a cache middleware's memory store holds.", []string{"middleware"}, nil)
)

type collector struct{}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRequests
	ch <- descStored
	ch <- descEntries
	ch <- descBytes
}

func (collector) Collect(ch chan<- prometheus.Metric) {
	seen := map[string]bool{}
	for _, st := range caches("") {
		if seen[st.name] {
			continue // two states of one name (a reload changed its store): the newest is enough
		}
		seen[st.name] = true
		for _, r := range []struct {
			result string
			v      int64
		}{{"hit", st.c.Hits.Load()}, {"miss", st.c.Misses.Load()}, {"stale", st.c.Stale.Load()},
			{"revalidation", st.c.Revalidations.Load()}, {"coalesced", st.c.Coalesced.Load()}, {"bypass", st.c.Bypass.Load()}} {
			ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(r.v), st.name, r.result)
		}
		ch <- prometheus.MustNewConstMetric(descStored, prometheus.CounterValue, float64(st.c.StoredBytes.Load()), st.name)
		if m, ok := st.store.(*Memory); ok {
			ss, _ := m.Stats(context.Background())
			ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(ss.Entries), st.name)
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(ss.Bytes), st.name)
		}
	}
}
