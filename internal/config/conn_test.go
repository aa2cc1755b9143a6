package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateConnLimits(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{
			name: "valid",
			text: `entrypoints:
  web: { address: ":8080", maxConnections: 1000, maxConnectionsPerIP: 20 }
http:
  services:
    api:
      loadBalancer:
        maxConnsPerServer: 10
        queue: { maxSize: 50, timeout: 2s }
        servers: [ { url: "http://127.0.0.1:1", maxConns: 3 }, { url: "http://127.0.0.1:2" } ]
`,
		},
		{
			name: "problems",
			text: `entrypoints:
  web: { address: ":8080", maxConnections: -1, maxConnectionsPerIP: -2 }
  ws: { address: ":8081", maxConnections: 10, maxConnectionsPerIP: 11 }
http:
  services:
    a:
      loadBalancer:
        maxConnsPerServer: -1
        servers: [ { url: "http://127.0.0.1:1", maxConns: -3 } ]
    b:
      loadBalancer:
        queue: { maxSize: -1 }
        servers: [ { url: "http://127.0.0.1:1" } ]
`,
			want: []string{
				`usher.yaml:2: entrypoints.web.maxConnections: must be 0 or more, got -1`,
				`usher.yaml:2: entrypoints.web.maxConnectionsPerIP: must be 0 or more, got -2`,
				`usher.yaml:3: entrypoints.ws.maxConnectionsPerIP: maxConnectionsPerIP (11) is above maxConnections (10): it would never apply`,
				`usher.yaml:8: http.services.a.loadBalancer.maxConnsPerServer: must be 0 or more, got -1`,
				`usher.yaml:9: http.services.a.loadBalancer.servers[0].maxConns: must be 0 or more, got -3`,
				`usher.yaml:12: http.services.b.loadBalancer.queue: a queue needs a limit to wait for: set maxConnsPerServer (or servers[].maxConns)`,
				`usher.yaml:12: http.services.b.loadBalancer.queue.maxSize: maxSize must be 1 or more, got -1`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := validate(t, tc.text)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestConnDefaults(t *testing.T) {
	cfg, err := parseWith("usher.yaml", `http:
  services:
    a: { loadBalancer: { maxConnsPerServer: 4, queue: {}, servers: [ { url: "http://h:1" }, { url: "http://h:2", maxConns: 1 } ] } }
    b: { loadBalancer: { servers: [ { url: "http://h:1" } ] } }
`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	a := cfg.HTTP.Services["a"].LoadBalancer
	if a.Queue.MaxSize != 100 || a.Queue.Timeout.D() != time.Second {
		t.Errorf("queue defaults: %+v", a.Queue)
	}
	if a.ServerMaxConns(0) != 4 || a.ServerMaxConns(1) != 1 {
		t.Errorf("server limits: %d %d", a.ServerMaxConns(0), a.ServerMaxConns(1))
	}
	if b := cfg.HTTP.Services["b"].LoadBalancer; b.Queue != nil || b.ServerMaxConns(0) != 0 {
		t.Errorf("no limit asked, got %+v %d", b.Queue, b.ServerMaxConns(0))
	}
}

func TestStaticEqualIgnoresConnLimits(t *testing.T) {
	a, err := parseWith("usher.yaml", "entrypoints:\n  web: { address: \":8080\", maxConnections: 10 }\n", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseWith("usher.yaml", "entrypoints:\n  web: { address: \":8080\", maxConnections: 20, maxConnectionsPerIP: 2 }\n", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseWith("usher.yaml", "entrypoints:\n  web: { address: \":8081\", maxConnections: 10 }\n", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !StaticEqual(a, b) {
		t.Error("a change of connection limits alone needs no restart")
	}
	if StaticEqual(a, c) {
		t.Error("a change of address needs a restart")
	}
	if a.Entrypoints["web"].MaxConnections != 10 {
		t.Error("StaticEqual changed its argument")
	}
}
