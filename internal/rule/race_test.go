//go:build race

package rule

// raceEnabled: under the race detector sync.Pool drops a quarter of what is
// put back, so regexp matching (which pools its machines) allocates.
const raceEnabled = true
