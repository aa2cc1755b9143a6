package config

import (
	"slices"
	"strings"
	"testing"
)

func TestValidateTLSOptions(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []string
	}{
		{"every key", `tls:
  options:
    a: { minVersion: "1.2", maxVersion: "1.3", cipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256],
         curvePreferences: [X25519MLKEM768, X25519, CurveP256, P-384], alpnProtocols: [http/1.1], sniStrict: true,
         clientAuth: { mode: request } }
`, nil},
		{"bad names", `tls:
  options:
    a: { cipherSuites: [TLS_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA265],
         curvePreferences: [X448, X25519, x25519], alpnProtocols: [h3, h2, h2] }
    b: { minVersion: "1.3", cipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256] }
`, []string{
			`usher.yaml:3: tls.options.a.cipherSuites[0]: "TLS_RSA_WITH_AES_128_GCM_SHA256" is insecure (no forward secrecy, or RC4, 3DES or CBC-SHA256) and is not offered`,
			`usher.yaml:3: tls.options.a.cipherSuites[1]: "TLS_AES_128_GCM_SHA256" is a TLS 1.3 suite: TLS 1.3 suites are not configurable (Go offers all three)`,
			`usher.yaml:3: tls.options.a.cipherSuites[2]: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA265" is not a TLS 1.2 cipher suite Go offers (one of TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256); did you mean "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"?`,
			`usher.yaml:4: tls.options.a.curvePreferences[0]: "X448" is not a key exchange Go implements (one of X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024, X25519, CurveP256, CurveP384, CurveP521)`,
			`usher.yaml:4: tls.options.a.curvePreferences[2]: "x25519" is listed twice`,
			`usher.yaml:4: tls.options.a.alpnProtocols[0]: "h3" is not one of h2, http/1.1; did you mean "h2"?`,
			`usher.yaml:4: tls.options.a.alpnProtocols[2]: "h2" is listed twice`,
			`usher.yaml:5: tls.options.b.cipherSuites: minVersion 1.3 leaves no TLS 1.2 handshake for these cipher suites to apply to`,
		}},
		{"router options need hosts", `entrypoints:
  websecure: { address: ":443", tls: {} }
tls:
  options: { mtls: { clientAuth: { mode: require } } }
http:
  routers:
    a: { rule: "PathPrefix(` + "`/a`" + `)", service: s, tls: { options: mtls } }
    b: { rule: "Host(` + "`b.test`" + `)", service: s, tls: { options: mtsl } }
    c: { rule: "Host(` + "`c.test`" + `) && Path(` + "`/`" + `)", service: s, tls: { options: mtls } }
  services:
    s: { loadBalancer: { servers: [ { url: "http://a" } ] } }
`, []string{
			"usher.yaml:7: http.routers.a.tls.options: TLS options are chosen during the handshake, by the SNI the client sends: the rule must name its hosts with Host(...), which \"PathPrefix(`/a`)\" does not (use the entrypoint's tls.options for every host)",
			`usher.yaml:8: http.routers.b.tls.options: TLS options "mtsl" do not exist; did you mean "mtls"?`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := validate(t, c.text)
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}
