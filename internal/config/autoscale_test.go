package config

import (
	"slices"
	"testing"
)

func TestValidateAutoscale(t *testing.T) {
	const at = `usher.yaml:5: http.services.app.loadBalancer.autoscale`
	for _, c := range []struct {
		name, servers, autoscale string
		want                     []string
	}{
		{"the design's shape", `[]`, `{ min: 1, max: 10, target: { inFlight: 20 }, stableWindow: 60s, panicWindow: 6s, cooldown: 30s, actuator: { exec: { command: ["./scale.sh"] } } }`, nil},
		{"rps, docker, to zero", `[]`, `{ min: 0, max: 3, target: { rps: 200 }, queue: { maxSize: 10, timeout: 5s }, actuator: { docker: { image: app, network: web, port: 8080 } } }`, nil},
		{"a floor", `[ { url: "http://127.0.0.1:1" } ]`, `{ min: 1, max: 2, target: { inFlight: 5 }, actuator: { exec: { command: [./s] } } }`, nil},
		{"min below the floor", `[ { url: "http://127.0.0.1:1" }, { url: "http://127.0.0.1:2" } ]`, `{ min: 1, max: 2, target: { inFlight: 5 }, actuator: { exec: { command: [./s] } } }`, []string{
			at + `.min: min (1) is below the 2 servers listed, which are the floor that is always there: raise min or list fewer servers`,
		}},
		{"bounds", `[]`, `{ min: 3, max: 2, target: { inFlight: 5, rps: 3 }, actuator: { exec: { command: [./s] } } }`, []string{
			at + `.max: max (2) is below min (3)`,
			at + `.target: a target is one of inFlight and rps, not both`,
		}},
		{"no max, no target", `[]`, `{ min: -1, target: {}, actuator: { exec: { command: [] } } }`, []string{
			at + `.min: min must be 0 or more, got -1`,
			at + `.max: max is required: the most servers, 1 or more, got 0`,
			at + `.target: a target is required: inFlight (requests in flight per server) or rps (requests per second per server), above 0`,
			at + `.actuator.exec.command: the command is required: the program and its arguments, like ["./scale.sh"]`,
		}},
		{"windows", `[]`, `{ max: 2, target: { rps: 1 }, stableWindow: 5s, panicWindow: 5s, panicThreshold: 1, maxStepUp: -1, actuator: { exec: { command: [./s] } } }`, []string{
			at + `.panicWindow: panicWindow (5s) must be shorter than stableWindow (5s)`,
			at + `.panicThreshold: panicThreshold must be above 1 (a multiple of the target), got 1`,
			at + `.maxStepUp: must be 0 or more, got -1`,
		}},
		{"actuators", `[]`, `{ max: 2, target: { rps: 1 }, queue: { maxSize: 3 }, actuator: { exec: { command: [./s] }, docker: { port: 70000, scheme: ftp, labels: { usher.autoscale.service: x } } } }`, []string{
			at + `.queue: a queue holds requests while no server is ready, which only min 0 allows`,
			at + `.actuator: an actuator is one of exec and docker, not both`,
			at + `.actuator.docker.image: the image is required: what each container runs`,
			at + `.actuator.docker.port: a port is 1 to 65535, got 70000`,
			at + `.actuator.docker.scheme: "ftp" is not one of http, https`,
			at + `.actuator.docker.labels.usher.autoscale.service: usher sets this label itself: it names the service the container serves`,
		}},
		{"no actuator", `[]`, `{ max: 2, target: { rps: 1 }, actuator: {} }`, []string{
			at + `.actuator: an actuator is required: exec (a command) or docker (containers from an image)`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := `http:
  services:
    app:
      loadBalancer:
        autoscale: ` + c.autoscale + `
        servers: ` + c.servers + "\n"
			var got []string
			if _, err := parseWith("usher.yaml", text, nil, nil); err != nil {
				got = []string{err.Error()}
			} else {
				got = validate(t, text)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n  %q\nwant\n  %q", got, c.want)
			}
		})
	}
}
