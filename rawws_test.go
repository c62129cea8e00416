package realtime_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/realtimetest"
)

// WebSocket opcodes, for tests that write frames by hand.
const (
	opCont   byte = 0x0
	opText   byte = 0x1
	opBinary byte = 0x2
	opClose  byte = 0x8
	opPing   byte = 0x9
	opPong   byte = 0xA
)

// rawConn is a WebSocket client that works frame by frame on a DialRaw
// connection: it can send what no library client would (fragments, bad
// opcodes, unmasked frames, floods of pings) and see every frame the server
// sends back, close frames and pongs included.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
	// pongs counts the pongs read so far.
	pongs int
	// pending holds envelopes read from a frame but not returned yet.
	pending []rawEnvelope
}

// rawEnvelope is one envelope the server sent.
type rawEnvelope struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Ack   int64           `json:"ack"`
	Error *realtime.Error `json:"error"`
	Raw   string          `json:"-"`
}

func (e rawEnvelope) errorData(t testing.TB) *realtime.Error {
	t.Helper()
	var out realtime.Error
	if err := json.Unmarshal(e.Data, &out); err != nil {
		t.Fatalf("error event %s: %v", e.Raw, err)
	}
	return &out
}

// dialRawConn dials url with DialRaw and reads __loly:connected.
func dialRawConn(t testing.TB, url string, header http.Header) *rawConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, err := realtimetest.DialRaw(ctx, url, header)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	rc := &rawConn{t: t, nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}
	env, closed, err := rc.next(5 * time.Second)
	if err != nil || closed != nil || env.Event != realtime.EventConnected {
		t.Fatalf("first envelope %+v (close %v, %v), want %s", env, closed, err, realtime.EventConnected)
	}
	return rc
}

// writeFrame writes one frame. A client's frames must be masked; masked
// false breaks that rule on purpose. rsv sets the RSV bits (0 to 7).
func (rc *rawConn) writeFrame(fin bool, op byte, payload []byte, masked bool, rsv byte) error {
	_ = rc.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := rc.nc.Write(encodeFrame(fin, op, payload, masked, rsv))
	return err
}

func encodeFrame(fin bool, op byte, payload []byte, masked bool, rsv byte) []byte {
	b0 := op | rsv<<4
	if fin {
		b0 |= 0x80
	}
	head := []byte{b0, 0}
	switch n := len(payload); {
	case n < 126:
		head[1] = byte(n)
	case n <= 0xFFFF:
		head[1] = 126
		head = binary.BigEndian.AppendUint16(head, uint16(n))
	default:
		head[1] = 127
		head = binary.BigEndian.AppendUint64(head, uint64(n))
	}
	if !masked {
		return append(head, payload...)
	}
	head[1] |= 0x80
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	head = append(head, mask[:]...)
	out := make([]byte, len(head), len(head)+len(payload))
	copy(out, head)
	for i, c := range payload {
		out = append(out, c^mask[i%4])
	}
	return out
}

// text sends one masked text frame.
func (rc *rawConn) text(payload string) error {
	return rc.writeFrame(true, opText, []byte(payload), true, 0)
}

// closeFrame is a close frame the server sent.
type closeFrame struct {
	code   uint16
	reason string
}

func (c *closeFrame) String() string { return fmt.Sprintf("close %d %q", c.code, c.reason) }

// readFrame reads one frame from the server.
func (rc *rawConn) readFrame() (fin bool, op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(rc.br, h[:]); err != nil {
		return
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0F
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(rc.br, b[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(rc.br, b[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if h[1]&0x80 != 0 {
		err = errors.New("server sent a masked frame")
		return
	}
	if n > 64<<20 {
		err = fmt.Errorf("server frame of %d bytes", n)
		return
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(rc.br, payload)
	return
}

// next returns the next envelope the server sent, or the close frame that
// ended the connection. Pongs are counted and skipped; pings are answered.
func (rc *rawConn) next(within time.Duration) (rawEnvelope, *closeFrame, error) {
	if len(rc.pending) > 0 {
		env := rc.pending[0]
		rc.pending = rc.pending[1:]
		return env, nil, nil
	}
	_ = rc.nc.SetReadDeadline(time.Now().Add(within))
	var msg []byte
	for {
		fin, op, payload, err := rc.readFrame()
		if err != nil {
			return rawEnvelope{}, nil, err
		}
		switch op {
		case opPong:
			rc.pongs++
			continue
		case opPing:
			_ = rc.writeFrame(true, opPong, payload, true, 0)
			continue
		case opClose:
			cf := &closeFrame{}
			if len(payload) >= 2 {
				cf.code = binary.BigEndian.Uint16(payload)
				cf.reason = string(payload[2:])
			}
			return rawEnvelope{}, cf, nil
		}
		msg = append(msg, payload...)
		if !fin {
			continue
		}
		for _, line := range strings.Split(string(msg), "\n") {
			if line == "" {
				continue
			}
			var env rawEnvelope
			if err := json.Unmarshal([]byte(line), &env); err != nil {
				return rawEnvelope{}, nil, fmt.Errorf("server sent a line that is not an envelope: %q", line)
			}
			env.Raw = line
			rc.pending = append(rc.pending, env)
		}
		if len(rc.pending) > 0 {
			env := rc.pending[0]
			rc.pending = rc.pending[1:]
			return env, nil, nil
		}
		msg = msg[:0]
	}
}

// syncAck sends an echo request with a fresh id and returns every envelope
// that arrived before its ack: with one socket's envelopes in order, that is
// everything the server sent in answer to what came before. It fails the
// test if the connection closes first.
func (rc *rawConn) syncAck(id int64) []rawEnvelope {
	rc.t.Helper()
	if err := rc.text(`{"event":"echo","data":"sync","id":` + strconv.FormatInt(id, 10) + `}`); err != nil {
		rc.t.Fatalf("send sync: %v", err)
	}
	var before []rawEnvelope
	for {
		env, cf, err := rc.next(10 * time.Second)
		if err != nil {
			rc.t.Fatalf("waiting for the sync ack: %v (after %d envelopes)", err, len(before))
		}
		if cf != nil {
			rc.t.Fatalf("waiting for the sync ack: the server closed the connection: %v", cf)
		}
		if env.Ack == id && env.Event == "" {
			if string(env.Data) != `"sync"` {
				rc.t.Fatalf("sync ack %s", env.Raw)
			}
			return before
		}
		before = append(before, env)
	}
}

// waitClose reads until the server's close frame and returns it, failing
// the test if the connection ends without one.
func (rc *rawConn) waitClose(within time.Duration) *closeFrame {
	rc.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, cf, err := rc.next(time.Until(deadline))
		if err != nil {
			rc.t.Fatalf("waiting for a close frame: %v", err)
		}
		if cf != nil {
			return cf
		}
	}
}

// closedWithin reports whether the server ends the connection (close frame,
// EOF or reset, not a read timeout) within d, reading and discarding
// everything until then.
func closedWithin(nc net.Conn, d time.Duration) bool {
	_ = nc.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// busyClient is a raw client that keeps sending events on its own goroutine
// while the test reads what the server sends. A server that closes its end
// with client data unread makes the kernel reset the connection; the
// client's next write then fails and, like a WebSocket library, the client
// drops the connection with whatever it had not read yet: the error and
// the close frame.
type busyClient struct {
	rc   *rawConn
	stop chan struct{}
	done chan struct{}
	sent int
}

// halt stops the sender and waits for it.
func (b *busyClient) halt() {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	<-b.done
}

// untilClose reads envelopes until the server's close frame, returning the
// envelopes and the frame; it answers the close as a client must, then
// expects the server to end the TCP connection. It starts reading only
// after a pause, as a busy client may: what the server sent must still be
// there then.
func (b *busyClient) untilClose(t *testing.T, within time.Duration) ([]rawEnvelope, *closeFrame) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	deadline := time.Now().Add(within)
	var got []rawEnvelope
	for {
		env, cf, err := b.rc.next(time.Until(deadline))
		if err != nil {
			t.Fatalf("after %d envelopes (%d events sent): the connection ended without a close frame: %v", len(got), b.sent, err)
		}
		if cf != nil {
			b.halt()
			payload := binary.BigEndian.AppendUint16(nil, 1000)
			_ = b.rc.writeFrame(true, opClose, payload, true, 0)
			if !closedWithin(b.rc.nc, 5*time.Second) {
				t.Fatal("the server kept the connection open after the closing handshake")
			}
			return got, cf
		}
		got = append(got, env)
	}
}

func startBusyClient(t *testing.T, nc net.Conn, frame string) *busyClient {
	t.Helper()
	return startBusy(t, &rawConn{t: t, nc: nc, br: bufio.NewReaderSize(nc, 64<<10)}, frame)
}

func startBusy(t *testing.T, rc *rawConn, frame string) *busyClient {
	t.Helper()
	nc := rc.nc
	b := &busyClient{rc: rc, stop: make(chan struct{}), done: make(chan struct{})}
	masked := encodeFrame(true, opText, []byte(frame), true, 0)
	go func() {
		defer close(b.done)
		for {
			select {
			case <-b.stop:
				return
			default:
			}
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := nc.Write(masked); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue // the server is not reading right now
				}
				// As WebSocket libraries do, a failed write ends the
				// connection, with whatever was not read yet.
				_ = nc.Close()
				return
			}
			b.sent++
			time.Sleep(200 * time.Microsecond) // busy, without starving the reader
		}
	}()
	t.Cleanup(b.halt)
	return b
}

func errorCodes(t *testing.T, envs []rawEnvelope) []string {
	var codes []string
	for _, e := range envs {
		if e.Event == realtime.EventError {
			codes = append(codes, e.errorData(t).Code)
		}
	}
	return codes
}
