package config

// http3 checks an entrypoint's http3 section (nil: off).
func (v *validator) http3(p string, ep *Entrypoint) {
	h := ep.HTTP3
	if h == nil {
		return
	}
	if ep.TLS == nil {
		v.add(p+".http3", "HTTP/3 runs over QUIC, which is always encrypted: the entrypoint needs tls")
		return
	}
	if h.AdvertisedPort < 0 || h.AdvertisedPort > 65535 {
		v.add(p+".http3.advertisedPort", "%d is not a port (1 to 65535; 0 announces the entrypoint's own)", h.AdvertisedPort)
	}
	// QUIC carries TLS 1.3 only: with a maximum of 1.2 no handshake could
	// succeed, and clients told by Alt-Svc would try in vain.
	name := ep.TLS.Options
	if name == "" {
		name = "default"
	}
	if v.c.TLS != nil {
		if o := v.c.TLS.Options[name]; o != nil && o.MaxVersion == "1.2" {
			v.add(p+".http3", "HTTP/3 needs TLS 1.3, and the entrypoint's TLS options %q have maxVersion 1.2", name)
		}
	}
}
