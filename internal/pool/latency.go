package pool

// Latency keeps what latency-aware pickers (ewma, least-time) learn about a
// server. Owned by the balance work; see internal/balance.
type Latency struct{}
