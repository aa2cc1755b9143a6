package config

import (
	"net/url"
	"strings"

	"github.com/usher-lb/usher/internal/labelexpr"
)

func (v *validator) docker(p string, d *DockerProvider) {
	v.dockerEndpoint(p+".endpoint", d.Endpoint)
	if strings.TrimSpace(d.Network) != d.Network {
		v.add(p+".network", "the network name has spaces around it")
	}
	if _, err := labelexpr.Parse(d.Constraints); err != nil {
		v.add(p+".constraints", "%v", err)
	}
	if d.Throttle < 0 {
		v.add(p+".throttle", "must be 0 or more")
	}
}

// dockerEndpoint checks the address of a Docker engine (the provider's, the
// docker actuator's); empty is the default.
func (v *validator) dockerEndpoint(p, ep string) {
	if ep == "" {
		return
	}
	u, err := url.Parse(ep)
	switch {
	case err != nil:
		v.add(p, "%q is not a URL: use unix:///var/run/docker.sock or tcp://host:2375", RedactURL(ep))
	case u.Scheme == "unix" && u.Path != "":
	case (u.Scheme == "tcp" || u.Scheme == "http") && u.Host != "":
	case u.Scheme == "https":
		v.add(p, "TLS to the docker engine is not supported by this version of usher: use unix:// or tcp:// (through a private network or an SSH tunnel)")
	default:
		v.add(p, "%q: expected unix:///path/to/docker.sock or tcp://host:port", RedactURL(ep))
	}
}
