package sim

import (
	"testing"
	"time"
)

// BenchmarkRun reports the simulator's speed in events (arrivals, departures,
// failures, timeouts) per second of real time, per algorithm, on the default
// scenario cut to 10s.
func BenchmarkRun(b *testing.B) {
	for _, algo := range DefaultAlgorithms {
		b.Run(algo, func(b *testing.B) {
			sc := short(algo)
			events := 0
			start := time.Now()
			for b.Loop() {
				events += Run(sc).Algorithms[0].Events
			}
			b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
		})
	}
}
