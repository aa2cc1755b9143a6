//lint:file-ignore SA1019 x/net/http2 is deprecated for net/http's HTTP/2, which (Go 1.26) cannot serve a connection handed over with an h2c upgrade's settings, nor share one dial among concurrent first requests; revisit with Go 1.27

package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"golang.org/x/net/http2"
	"google.golang.org/protobuf/encoding/protowire"
)

// gRPC health checking (grpc.health.v1, the protocol every gRPC server
// library implements): one unary Check call per probe, on a connection of
// its own, whose answer must be SERVING. The two messages are small enough
// to encode here: HealthCheckRequest{service = 1}, HealthCheckResponse{
// status = 1} with status 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN.

var servingStatus = map[uint64]string{0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}

func (c *Check) probeGRPC(ctx context.Context, raw net.Conn, u *url.URL, tc *tls.Config, header http.Header, fail func(string, error) result) result {
	conn := raw
	scheme := "http"
	if u.Scheme == "https" {
		scheme = "https"
		t := tc.Clone()
		t.NextProtos = []string{"h2"}
		tlsConn := tls.Client(raw, t)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return fail("tls", err)
		}
		if tlsConn.ConnectionState().NegotiatedProtocol != "h2" {
			return result{reason: "tls: the server does not speak HTTP/2 (ALPN chose no h2)"}
		}
		conn = tlsConn
	}
	cc, err := (&http2.Transport{AllowHTTP: true}).NewClientConn(conn)
	if err != nil {
		return fail("http2", err)
	}
	defer cc.Close()

	msg := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), c.GRPCService)
	body := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(body[1:], uint32(len(msg)))
	body = append(body, msg...)
	host := c.Host
	if host == "" {
		host = u.Host
	}
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           &url.URL{Scheme: scheme, Host: host, Path: "/grpc.health.v1.Health/Check"},
		Host:          host,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        header.Clone(),
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
	}).WithContext(ctx)
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return fail("grpc", err)
	}
	defer resp.Body.Close()
	res := result{agent: parseAgent(resp.Header)}
	if resp.StatusCode != http.StatusOK {
		res.reason = fmt.Sprintf("grpc: HTTP status %d", resp.StatusCode)
		return res
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	if err != nil {
		r := fail("grpc", err)
		r.agent = res.agent
		return r
	}
	st := resp.Trailer.Get("Grpc-Status")
	if st == "" {
		st = resp.Header.Get("Grpc-Status") // a trailers-only answer
	}
	if st != "0" {
		m := resp.Trailer.Get("Grpc-Message")
		if m == "" {
			m = resp.Header.Get("Grpc-Message")
		}
		m, _ = url.PathUnescape(m)
		res.reason = fmt.Sprintf("grpc-status %s %s", st, m)
		if n, _ := strconv.Atoi(st); n == 12 {
			res.reason += " (the server has no grpc.health.v1.Health service)"
		}
		return res
	}
	status, err := healthStatus(data)
	if err != nil {
		res.reason = "grpc: " + err.Error()
		return res
	}
	res.reason = "grpc " + servingStatus[status]
	if status != 1 {
		if c.GRPCService != "" {
			res.reason += " for service " + strconv.Quote(c.GRPCService)
		}
		return res
	}
	res.ok = true
	return res
}

// healthStatus reads the status of a HealthCheckResponse in its gRPC
// message frame.
func healthStatus(data []byte) (uint64, error) {
	if len(data) < 5 {
		return 0, errors.New("no message in the answer")
	}
	if data[0] != 0 {
		return 0, errors.New("a compressed answer, which was not asked for")
	}
	n := binary.BigEndian.Uint32(data[1:5])
	msg := data[5:]
	if uint64(len(msg)) < uint64(n) {
		return 0, errors.New("the answer's message is cut short")
	}
	msg = msg[:n]
	var status uint64
	for len(msg) > 0 {
		num, typ, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return 0, errors.New("a malformed answer")
		}
		msg = msg[l:]
		if num == 1 && typ == protowire.VarintType {
			v, l := protowire.ConsumeVarint(msg)
			if l < 0 {
				return 0, errors.New("a malformed answer")
			}
			status, msg = v, msg[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(num, typ, msg)
		if l < 0 {
			return 0, errors.New("a malformed answer")
		}
		msg = msg[l:]
	}
	return status, nil
}
