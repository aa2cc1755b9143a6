package config

import "strings"

// HTTP3 turns on HTTP/3 (QUIC, over UDP) on a TLS entrypoint. In the file it
// is `http3: true` or a mapping of its options (`http3: { zeroRTT: true }`,
// which turns it on too); `http3: false` or no key leaves it off. A nil
// *HTTP3 is off.
type HTTP3 struct {
	ZeroRTT        bool `json:"zeroRTT,omitempty" doc:"accept requests in QUIC 0-RTT early data from clients resuming a session: one round trip less, but such a request can be replayed by an attacker; usher forwards it with Early-Data: 1 (RFC 8470) so that servers may answer 425; default false"`
	AdvertisedPort int  `json:"advertisedPort,omitempty" doc:"UDP port announced in Alt-Svc, when clients reach usher on another port than the one it listens on (NAT, port forwarding); default the entrypoint's port"`
}

// boolOrSection reports whether a node written as a scalar is true or false,
// for a section (like http3) that may be written as a boolean: true is the
// section with every option at its default, false is no section.
func (d *decoder) boolOrSection(n *node, path string) (on, ok bool) {
	s, ok := d.scalar(n, path, "true, false or a mapping")
	if !ok {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	d.problem(n.pos, path, "expected true or false (or a mapping of options), got %q", clip(s))
	return false, false
}
