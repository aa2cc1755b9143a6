package wire

import (
	"bufio"
	"bytes"
	"slices"
	"testing"
)

func TestParseChunkSize(t *testing.T) {
	for _, tc := range []struct {
		line string
		n    int64
		ok   bool
	}{
		{"0", 0, true},
		{"1a", 26, true},
		{"FF", 255, true},
		{"10;name=value", 16, true},
		{"10 ; ext", 16, true},
		{"10\t;ext", 16, true},
		{"fffffffffffffff", 1<<60 - 1, true},
		{"1000000000000000", 0, false}, // 2^60: too large
		{"", 0, false},
		{";ext", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"0x10", 0, false},
		{"1 2", 0, false},
		{"10 x", 0, false},
		{"10;\x00", 0, false},
		{" 10", 0, false},
	} {
		n, ok := ParseChunkSize([]byte(tc.line))
		if ok != tc.ok || (ok && n != tc.n) {
			t.Errorf("ParseChunkSize(%q) = %d, %v; want %d, %v", tc.line, n, ok, tc.n, tc.ok)
		}
	}
}

func TestParseContentLength(t *testing.T) {
	for _, tc := range []struct {
		v  string
		n  int64
		ok bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{" 42 ", 42, true},
		{"42, 42", 42, true},
		{"42,43", 0, false},
		{"", 0, false},
		{"+42", 0, false},
		{"-1", 0, false},
		{"4 2", 0, false},
		{"42,", 0, false},
		{"0x10", 0, false},
		{"1234567890123456789", 0, false},
	} {
		n, ok := ParseContentLength(tc.v)
		if ok != tc.ok || (ok && n != tc.n) {
			t.Errorf("ParseContentLength(%q) = %d, %v; want %d, %v", tc.v, n, ok, tc.n, tc.ok)
		}
	}
}

func TestCutCRLF(t *testing.T) {
	for _, tc := range []struct {
		in, out string
		ok      bool
	}{
		{"abc\r\n", "abc", true},
		{"\r\n", "", true},
		{"abc\n", "", false},
		{"a\rbc\r\n", "", false},
		{"abc", "", false},
		{"\n", "", false},
	} {
		out, ok := CutCRLF([]byte(tc.in))
		if ok != tc.ok || string(out) != tc.out {
			t.Errorf("CutCRLF(%q) = %q, %v; want %q, %v", tc.in, out, ok, tc.out, tc.ok)
		}
	}
}

func TestCanonicalKey(t *testing.T) {
	for in, want := range map[string]string{
		"content-length":    "Content-Length",
		"X-FORWARDED-FOR":   "X-Forwarded-For",
		"x_forwarded_for":   "X_forwarded_for",
		"etag":              "Etag",
		"a":                 "A",
		"sec-websocket-key": "Sec-Websocket-Key",
	} {
		if got := CanonicalKey([]byte(in)); got != want {
			t.Errorf("CanonicalKey(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { CanonicalKey([]byte("content-type")) }); n != 0 {
		t.Errorf("a common name allocates %v times", n)
	}
}

func TestConnectionTokens(t *testing.T) {
	var got []string
	ConnectionTokens([]string{"close, x-forwarded-for", " ,,X-Real-IP ", "bad name, upgrade"}, func(k string) { got = append(got, k) })
	want := []string{"Close", "X-Forwarded-For", "X-Real-Ip", "Upgrade"}
	if !slices.Equal(got, want) {
		t.Errorf("tokens %q, want %q", got, want)
	}
	if !HasToken([]string{"keep-alive, Upgrade"}, "upgrade") || HasToken([]string{"upgraded"}, "upgrade") {
		t.Error("HasToken")
	}
	if !HasTokenBytes([]byte(" chunked"), "chunked") || HasTokenBytes([]byte("chunkedx"), "chunked") {
		t.Error("HasTokenBytes")
	}
}

func TestWriteField(t *testing.T) {
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	WriteField(bw, "X-A", "v\r\nInjected: 1\x00")
	WriteField(bw, "Bad Name", "v")
	WriteField(bw, "", "v")
	bw.Flush()
	if got, want := b.String(), "X-A: v  Injected: 1 \r\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
}

func TestForbiddenTrailerAndHop(t *testing.T) {
	for _, k := range []string{"Content-Length", "Transfer-Encoding", "Host", "Set-Cookie", "Authorization", "Location"} {
		if !ForbiddenTrailer(k) {
			t.Errorf("%s allowed as a trailer", k)
		}
	}
	for _, k := range []string{"Grpc-Status", "X-Checksum", "Server-Timing"} {
		if ForbiddenTrailer(k) {
			t.Errorf("%s refused as a trailer", k)
		}
	}
	for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Transfer-Encoding", "Upgrade"} {
		if !IsHopByHop(k) {
			t.Errorf("%s not hop-by-hop", k)
		}
	}
}
