//go:build race

package waf

// raceEnabled: the race detector slows Go's regexp (and so the CRS) about
// tenfold; the corpora, which measure rates and not concurrency, run without it.
const raceEnabled = true
