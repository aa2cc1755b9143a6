package test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// grpcServer is grpc-go's test service, served in the clear (h2c) on
// 127.0.0.1. A unary call whose payload says "sleep" answers after 2s,
// "notfound" fails with NOT_FOUND; every call sends a trailer.
type grpcServer struct {
	testpb.UnimplementedTestServiceServer
}

func (grpcServer) UnaryCall(ctx context.Context, in *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	grpc.SetTrailer(ctx, metadata.Pairs("x-served-by", "grpc-go"))
	md, _ := metadata.FromIncomingContext(ctx)
	switch string(in.GetPayload().GetBody()) {
	case "sleep":
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "notfound":
		return nil, status.Error(codes.NotFound, "no such thing: 42")
	}
	body := append([]byte("echo:"), in.GetPayload().GetBody()...)
	body = append(body, strings.Join(md.Get("x-client"), ",")...)
	return &testpb.SimpleResponse{Payload: &testpb.Payload{Body: body}}, nil
}

func (grpcServer) StreamingOutputCall(in *testpb.StreamingOutputCallRequest, s grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	for _, p := range in.GetResponseParameters() {
		if err := s.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: make([]byte, p.GetSize())}}); err != nil {
			return err
		}
	}
	return nil
}

func (grpcServer) StreamingInputCall(s grpc.ClientStreamingServer[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]) error {
	var n int32
	for {
		in, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return s.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: n})
		}
		if err != nil {
			return err
		}
		n += int32(len(in.GetPayload().GetBody()))
	}
}

func (grpcServer) FullDuplexCall(s grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	for {
		in, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.Send(&testpb.StreamingOutputCallResponse{Payload: in.GetPayload()}); err != nil {
			return err
		}
	}
}

func startGRPCServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	testpb.RegisterTestServiceServer(s, grpcServer{})
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

func grpcClient(t *testing.T, addr string) testpb.TestServiceClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return testpb.NewTestServiceClient(cc)
}

// TestGRPCThroughUsher: grpc-go clients reach a grpc-go server through
// usher (h2c on both sides): unary calls with metadata and trailers, the
// three streaming kinds message by message, a server's status intact, and
// usher's own failures as gRPC statuses.
func TestGRPCThroughUsher(t *testing.T) {
	srv := startGRPCServer(t)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	u := startUsher(t, config(`
entrypoints:
  web: { address: "127.0.0.1:0", h2c: true }
http:
  routers:
    grpc: { rule: "PathPrefix(`+"`/grpc.testing.TestService/`"+`) && !Header(`+"`x-route`, `dead`"+`)", service: grpc }
    dead: { rule: "Header(`+"`x-route`, `dead`"+`)", service: dead }
  services:
    grpc:
      loadBalancer:
        servers: [ { url: "http://{{srv}}" } ]
        transport: { protocol: h2c, responseHeaderTimeout: 500ms }
    dead:
      loadBalancer:
        servers: [ { url: "http://{{dead}}" } ]
        transport: { protocol: h2c }
`, "srv", srv, "dead", deadAddr))
	c := grpcClient(t, u.addrs["web"])
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Unary, with metadata both ways.
	var trailer metadata.MD
	out, err := c.UnaryCall(metadata.AppendToOutgoingContext(ctx, "x-client", "test"),
		&testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("hi ")}}, grpc.Trailer(&trailer))
	if err != nil || string(out.GetPayload().GetBody()) != "echo:hi test" {
		t.Fatalf("unary: %v %q", err, out.GetPayload().GetBody())
	}
	if got := trailer.Get("x-served-by"); len(got) != 1 || got[0] != "grpc-go" {
		t.Errorf("the server's trailer: %v", trailer)
	}

	// The server's own status, code and message intact.
	_, err = c.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("notfound")}})
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "no such thing: 42" {
		t.Errorf("the server's NOT_FOUND came as %v", err)
	}

	// Server streaming: five messages of the sizes asked.
	ss, err := c.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{ResponseParameters: []*testpb.ResponseParameters{{Size: 1}, {Size: 10}, {Size: 100}, {Size: 1000}, {Size: 100000}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{1, 10, 100, 1000, 100000} {
		m, err := ss.Recv()
		if err != nil || len(m.GetPayload().GetBody()) != want {
			t.Fatalf("server stream: %v, got %d bytes, want %d", err, len(m.GetPayload().GetBody()), want)
		}
	}
	if _, err := ss.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("server stream end: %v", err)
	}

	// Client streaming: the server adds up what it got.
	cs, err := c.StreamingInputCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{3, 30, 300, 30000} {
		if err := cs.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, n)}}); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := cs.CloseAndRecv(); err != nil || res.GetAggregatedPayloadSize() != 30333 {
		t.Errorf("client stream: %v %d", err, res.GetAggregatedPayloadSize())
	}

	// Bidirectional: each answer comes before the next message is sent, so
	// nothing is held back on the way.
	bs, err := c.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		msg := []byte(strings.Repeat("p", i+1))
		if err := bs.Send(&testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: msg}}); err != nil {
			t.Fatal(err)
		}
		m, err := bs.Recv()
		if err != nil || string(m.GetPayload().GetBody()) != string(msg) {
			t.Fatalf("ping %d: %v %q", i, err, m.GetPayload().GetBody())
		}
	}
	bs.CloseSend()
	if _, err := bs.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("bidi end: %v", err)
	}

	// What usher answers itself, as gRPC statuses.
	_, err = c.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("sleep")}})
	if st := status.Convert(err); st.Code() != codes.DeadlineExceeded || !strings.Contains(st.Message(), "usher: 504") {
		t.Errorf("a server slower than responseHeaderTimeout: %v, want DEADLINE_EXCEEDED from usher", err)
	}
	_, err = c.UnaryCall(metadata.AppendToOutgoingContext(ctx, "x-route", "dead"), &testpb.SimpleRequest{})
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "usher: 502") {
		t.Errorf("no server: %v, want UNAVAILABLE from usher", err)
	}
	_, err = c.EmptyCall(ctx, &testpb.Empty{}) // routed; the server does not implement it
	if st := status.Convert(err); st.Code() != codes.Unimplemented {
		t.Errorf("an unimplemented method: %v", err)
	}
	cc, err := grpc.NewClient("passthrough:///"+u.addrs["web"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	err = cc.Invoke(ctx, "/other.Service/Call", &testpb.Empty{}, &testpb.Empty{})
	if st := status.Convert(err); st.Code() != codes.Unimplemented || !strings.Contains(st.Message(), "usher: 404") {
		t.Errorf("no router: %v, want UNIMPLEMENTED from usher", err)
	}

	// The client's own deadline, passed as grpc-timeout, ends the call at
	// usher too.
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	start := time.Now()
	_, err = c.UnaryCall(short, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: []byte("sleep")}})
	if status.Code(err) != codes.DeadlineExceeded || time.Since(start) > time.Second {
		t.Errorf("a call past its deadline: %v after %v", err, time.Since(start))
	}
}
