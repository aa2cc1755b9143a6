package server

import (
	"net/http"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRequestBasicAuth is BenchmarkRequest behind a basicAuth
// middleware whose check is cached (a keep-alive client sending the same
// credentials: the argon2id hash is paid once, then HMAC and a map lookup);
// plain is the same request, its Authorization too, without the middleware.
func BenchmarkRequestBasicAuth(b *testing.B) {
	cred := http.Header{"Authorization": {"Basic Y2Fyb2w6cGFzc3dvcmQ="}} // carol:password
	b.Run("plain", func(b *testing.B) { benchRequest(b, cred) })
	b.Run("cached", func(b *testing.B) {
		benchRequestWith(b, `fwd: { basicAuth: { users: ["carol:$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo"], headerField: X-User } }`, cred)
	})
}

// cpuTime is the CPU time the process has used, all its threads, user and
// system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ns/op: the process's CPU time per request since since
// (the backend's, which runs in the process, included). Unlike ns/op it
// does not grow when other processes take the machine's cores.
func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64(cpuTime()-since)/float64(b.N), "cpu-ns/op")
}
