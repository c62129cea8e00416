package realtime_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// This file is the harness of the pipeline benchmarks: WebSocket
// connections that live in memory, so that a benchmark measures the CPU and
// allocations of the server (the Mux, or bare gws for reference) without the
// kernel's TCP stack and without a client's decoding. A memConn is handed to
// the server through an http.Hijacker, so the server is driven entirely
// through its public API, Mux.ServeHTTP; the benchmark feeds it client
// frames and counts the envelopes it writes back.

// benchSink counts the envelopes the server wrote, over any number of memConns.
type benchSink struct {
	mu      sync.Mutex
	cond    *sync.Cond
	envs    int64
	expired bool
}

func newBenchSink(b *testing.B) *benchSink {
	s := &benchSink{}
	s.cond = sync.NewCond(&s.mu)
	s.watch(b)
	return s
}

func (s *benchSink) add(n int64) {
	s.mu.Lock()
	s.envs += n
	s.cond.Broadcast()
	s.mu.Unlock()
}

// wait blocks until at least n envelopes were counted in all. It fails the
// benchmark if watch's deadline passes first.
func (s *benchSink) wait(b *testing.B, n int64) {
	s.mu.Lock()
	for s.envs < n && !s.expired {
		s.cond.Wait()
	}
	expired := s.expired
	s.mu.Unlock()
	if expired {
		b.Fatalf("timed out waiting for %d envelopes", n)
	}
}

// watch bounds every wait of the benchmark by one generous deadline (a
// timer per wait would allocate inside the measured loop).
func (s *benchSink) watch(b *testing.B) {
	t := time.AfterFunc(5*time.Minute, func() {
		s.mu.Lock()
		s.expired = true
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	b.Cleanup(func() { t.Stop() })
}

func (s *benchSink) count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.envs
}

// memConn is a net.Conn whose reads come from what the benchmark feeds it
// and whose writes are parsed as server frames: each text frame adds its
// envelopes (lines) to the benchSink; the handshake answer and control frames
// add nothing.
type memConn struct {
	sink *benchSink
	envs atomic.Int64

	mu     sync.Mutex
	cond   *sync.Cond
	in     []byte
	spare  []byte
	closed bool
}

func newMemConn(s *benchSink) *memConn {
	c := &memConn{sink: s}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// feed queues bytes for the server to read.
func (c *memConn) feed(p []byte) {
	c.mu.Lock()
	c.in = append(c.in, p...)
	c.cond.Signal()
	c.mu.Unlock()
}

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.in) == 0 && !c.closed {
		c.cond.Wait()
	}
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	if len(c.in) == 0 {
		c.in, c.spare = c.spare[:0], c.in[:0]
	}
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("HTTP/1.1 ")) {
		return len(p), nil // the handshake's answer
	}
	var envs int64
	for b := p; len(b) >= 2; {
		opcode, n, hdr := b[0]&0x0f, int(b[1]&0x7f), 2
		switch n {
		case 126:
			n, hdr = int(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			n, hdr = int(binary.BigEndian.Uint64(b[2:])), 10
		}
		if hdr+n > len(b) {
			return 0, errors.New("memConn: frame split across writes")
		}
		if opcode == 1 {
			envs += int64(bytes.Count(b[hdr:hdr+n], []byte{'\n'})) + 1
		}
		b = b[hdr+n:]
	}
	if envs > 0 {
		c.envs.Add(envs)
		c.sink.add(envs)
	}
	return len(p), nil
}

func (c *memConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	return nil
}

func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// memHijacker is the http.ResponseWriter of a handshake: it hands the server
// the memConn.
type memHijacker struct {
	conn *memConn
	hdr  http.Header
}

func (h *memHijacker) Header() http.Header         { return h.hdr }
func (h *memHijacker) Write(p []byte) (int, error) { return len(p), nil }
func (h *memHijacker) WriteHeader(int)             {}
func (h *memHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.conn, bufio.NewReadWriter(bufio.NewReader(h.conn), bufio.NewWriter(h.conn)), nil
}

// memClient is one in-memory connection to a server and the goroutine
// serving it.
type memClient struct {
	conn *memConn
	done chan struct{}
}

// memConnect upgrades a memConn through h at path (with its query) and serves
// it on a goroutine, as net/http would.
func memConnect(h http.Handler, s *benchSink, path string) *memClient {
	u, err := url.Parse("http://bench.local" + path)
	if err != nil {
		panic(err)
	}
	r := &http.Request{
		Method: http.MethodGet, URL: u, Host: u.Host, RequestURI: u.RequestURI(),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: "127.0.0.1:40000",
		Header: http.Header{
			"Connection":            {"Upgrade"},
			"Upgrade":               {"websocket"},
			"Sec-Websocket-Version": {"13"},
			"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		},
	}
	mc := &memClient{conn: newMemConn(s), done: make(chan struct{})}
	go func() {
		defer close(mc.done)
		h.ServeHTTP(&memHijacker{conn: mc.conn, hdr: http.Header{}}, r)
	}()
	return mc
}

// close ends the connection and waits for the server to let go of it.
func (mc *memClient) close() {
	_ = mc.conn.Close()
	<-mc.done
}

// maskedFrame returns payload as one masked text frame. The mask key is
// zero, so the payload needs no masking: the server still unmasks it.
func maskedFrame(payload []byte) []byte {
	f := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n < 1<<16:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	f = append(f, 0, 0, 0, 0)
	return append(f, payload...)
}
