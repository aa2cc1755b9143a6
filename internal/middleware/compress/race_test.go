//go:build race

package compress

// raceEnabled: the race detector slows compression tenfold; tests that
// measure take fewer samples.
const raceEnabled = true
