package compress

import (
	"bufio"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// The encodings, by id; noEncoding is identity. The ids index the tables below.
const (
	noEncoding = iota
	encZstd
	encBr
	encGzip
	numEncodings
)

// encodingNames are the content-coding names, as sent in Content-Encoding.
var encodingNames = [numEncodings]string{"", "zstd", "br", "gzip"}

// contentEncoding holds the values set as Content-Encoding: one shared slice
// per encoding, so that setting the header allocates nothing.
var contentEncoding = [numEncodings][]string{nil, {"zstd"}, {"br"}, {"gzip"}}

// Levels and the windows that bound what one stream holds. A window is the
// distance back a match may reach, and the history the encoder keeps. The
// defaults give the three encodings about the same ratio on text (4.2x on
// bench/'s corpus of HTML, JSON and JS), so that the choice among them is
// one of CPU, and keep each stream to one or two MiB (what the libraries'
// match tables take; TestMemoryPerStream measures it): a larger window
// gains under 1% on typical responses (64KiB to 300KiB) for a third more
// memory.
const (
	defaultGzipLevel = 5 // klauspost's 5: within 5% of zlib's 6 in ratio, at a third of its CPU
	defaultBrLevel   = 3 // brotli 4 gains 3% for 1.4x the CPU and twice the memory
	defaultZstdLevel = 3 // zstd's scale: klauspost's SpeedDefault

	// zstdWindow bounds the zstd window, far under the 8MiB that RFC 9659
	// lets a decoder refuse past.
	zstdWindow = 256 << 10
	// brLGWin is brotli's window, 2^brLGWin bytes (its default is 2^22):
	// 2^16 takes half the memory of 2^18 at quality 3, for 1% of ratio.
	brLGWin = 16

	// outBufSize is the buffer between an encoder and the client: deflate
	// writes a few hundred bytes at a time, and each write to the client's
	// writer would else be a chunk of its own.
	outBufSize = 4 << 10
)

// compressor is what the three libraries' writers have in common.
type compressor interface {
	io.Writer
	Flush() error
	Close() error
	Reset(io.Writer)
}

// encoder is a compressor and its output buffer, pooled together. The
// compressor always writes to out; out is pointed at the response's writer
// for the time of one response.
type encoder struct {
	c    compressor
	out  *bufio.Writer
	pool *sync.Pool
}

// pools holds idle encoders per encoding and level (zstd's level is
// klauspost's EncoderLevel, 1 to 4). A sync.Pool keeps memory bounded by what
// is in use: idle encoders go at the next collections.
var pools [numEncodings][10]sync.Pool

// getEncoder returns an encoder of enc at level (already checked), writing
// to w, from its pool or new.
func getEncoder(enc, level int, w io.Writer) *encoder {
	p := &pools[enc][level]
	e, _ := p.Get().(*encoder)
	if e == nil {
		e = &encoder{out: bufio.NewWriterSize(w, outBufSize), pool: p}
		switch enc {
		case encGzip:
			gz, _ := gzip.NewWriterLevel(e.out, level) // level is in range
			e.c = gz
		case encBr:
			e.c = brotli.NewWriterOptions(e.out, brotli.WriterOptions{Quality: level, LGWin: brLGWin})
		case encZstd:
			zw, _ := zstd.NewWriter(e.out,
				zstd.WithEncoderLevel(zstd.EncoderLevel(level)),
				zstd.WithWindowSize(zstdWindow),
				zstd.WithEncoderConcurrency(1), // one stream, no goroutines
				zstd.WithLowerEncoderMem(true),
			)
			e.c = zw
		}
		return e
	}
	e.out.Reset(w)
	e.c.Reset(e.out)
	return e
}

// Flush sends what was written so far to the client's writer.
func (e *encoder) Flush() error {
	if err := e.c.Flush(); err != nil {
		return err
	}
	return e.out.Flush()
}

// finish ends the stream (the gzip footer, the zstd and brotli end marks),
// sends it on and returns the encoder to its pool.
func (e *encoder) finish() error {
	err := e.c.Close()
	if err == nil {
		err = e.out.Flush()
	}
	e.release()
	return err
}

// discard returns the encoder to its pool without ending the stream: what a
// response cut short must never get is a clean end. What was not flushed yet
// is dropped.
func (e *encoder) discard() { e.release() }

// release drops the encoder's tie to the response (its state is reset when
// it is taken again) and pools it.
func (e *encoder) release() {
	e.out.Reset(nil)
	e.pool.Put(e)
}
