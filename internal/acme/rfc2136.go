package acme

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"

	"github.com/usher-lb/usher/internal/config"
)

// rfc2136 publishes the dns-01 challenge's TXT records with DNS UPDATE
// (RFC 2136) sent to the zone's primary server, signed with TSIG (RFC 8945):
// what BIND, Knot, PowerDNS and most others take. It is a libdns provider,
// the interface certmagic's DNS-01 solver drives.
type rfc2136 struct {
	server  string
	zone    string // "" = the one certmagic found from the SOA
	keyName string // fully qualified; "" = unsigned
	alg     string
	secret  string
}

func newRFC2136(d *config.ACMEDNS) *rfc2136 {
	p := &rfc2136{server: d.Server, secret: d.TSIGSecret, alg: dns.HmacSHA256}
	if _, _, err := net.SplitHostPort(p.server); err != nil {
		p.server = net.JoinHostPort(strings.Trim(p.server, "[]"), "53")
	}
	if d.Zone != "" {
		p.zone = dns.Fqdn(strings.ToLower(d.Zone))
	}
	if d.TSIGKey != "" {
		p.keyName = dns.Fqdn(strings.ToLower(d.TSIGKey))
	}
	switch d.TSIGAlgorithm {
	case "hmac-sha384":
		p.alg = dns.HmacSHA384
	case "hmac-sha512":
		p.alg = dns.HmacSHA512
	case "hmac-sha224":
		p.alg = dns.HmacSHA224
	case "hmac-sha1":
		p.alg = dns.HmacSHA1
	}
	return p
}

func (p *rfc2136) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return recs, p.update(ctx, zone, recs, false)
}

func (p *rfc2136) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	return recs, p.update(ctx, zone, recs, true)
}

func (p *rfc2136) update(ctx context.Context, zone string, recs []libdns.Record, remove bool) error {
	if p.zone != "" {
		zone = p.zone
	}
	zone = dns.Fqdn(zone)
	rrs := make([]dns.RR, 0, len(recs))
	for _, r := range recs {
		rr := r.RR()
		if rr.Type != "TXT" {
			return fmt.Errorf("rfc2136: record type %s is not supported (TXT only)", rr.Type)
		}
		ttl := rr.TTL
		if ttl <= 0 {
			ttl = time.Minute
		}
		rrs = append(rrs, &dns.TXT{
			Hdr: dns.RR_Header{Name: dns.Fqdn(libdns.AbsoluteName(rr.Name, zone)), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: uint32(ttl.Seconds())},
			Txt: splitTXT(rr.Data),
		})
	}
	m := new(dns.Msg)
	m.SetUpdate(zone)
	if remove {
		m.Remove(rrs)
	} else {
		m.Insert(rrs)
	}
	c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
	if p.keyName != "" {
		m.SetTsig(p.keyName, p.alg, 300, time.Now().Unix())
		c.TsigSecret = map[string]string{p.keyName: p.secret}
	}
	resp, _, err := c.ExchangeContext(ctx, m, p.server)
	switch {
	case errors.Is(err, dns.ErrSig), errors.Is(err, dns.ErrSecret), errors.Is(err, dns.ErrAuth):
		return fmt.Errorf("rfc2136: update of zone %s at %s: TSIG key %s: %w (is the secret the server's?)", zone, p.server, p.keyName, err)
	case err != nil:
		return fmt.Errorf("rfc2136: update of zone %s at %s: %w", zone, p.server, err)
	case resp.Rcode != dns.RcodeSuccess:
		why := dns.RcodeToString[resp.Rcode]
		if t := resp.IsTsig(); t != nil && t.Error != 0 {
			why += " (TSIG " + dns.RcodeToString[int(t.Error)] + ")"
		}
		return fmt.Errorf("rfc2136: update of zone %s at %s refused: %s", zone, p.server, why)
	}
	return nil
}

// splitTXT cuts a value into the 255-byte strings a TXT record is made of.
func splitTXT(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}
