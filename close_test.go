package realtime_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

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

func errorCodes(t *testing.T, envs []rawEnvelope) []string {
	var codes []string
	for _, e := range envs {
		if e.Event == realtime.EventError {
			codes = append(codes, e.errorData(t).Code)
		}
	}
	return codes
}

// A socket refused at connect that had already sent events gets its
// UNAUTHORIZED error and the 4401 close, every time.
func TestRefusedSocketThatKeepsSendingGetsItsCloseCode(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.Auth(func(c *realtime.Ctx) (*realtime.User, error) {
		time.Sleep(5 * time.Millisecond) // the client's events pile up meanwhile
		return nil, errors.New("bad token")
	}))
	mux.On("x", func(c *realtime.Ctx) error { return nil })
	srv := realtimetest.NewServer(t, mux)
	event := `{"event":"x","data":"` + strings.Repeat("a", 512) + `"}`
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			nc, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			b := startBusyClient(t, nc, event)
			envs, cf := b.untilClose(t, 10*time.Second)
			if codes := errorCodes(t, envs); len(envs) != 1 || len(codes) != 1 || codes[0] != realtime.CodeUnauthorized {
				t.Fatalf("before the close: %+v; want one UNAUTHORIZED error", envs)
			}
			if cf.code != realtime.CloseUnauthorized {
				t.Fatalf("%v, want 4401", cf)
			}
		})
	}
}

// A socket closed for rate-limit abuse sees its RATE_LIMIT errors and then
// the 1008 close, though it never stops sending.
func TestAbusiveSocketThatKeepsSendingGetsItsCloseCode(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.RateLimit(middleware.RateLimitOpts{
		PerSocket:      &realtime.Rate{EventsPerSecond: 1, Burst: 1},
		AbuseThreshold: 50,
	}))
	mux.On("x", func(c *realtime.Ctx) error { return nil })
	srv := realtimetest.NewServer(t, mux)
	for i := range 5 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			nc, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			b := startBusyClient(t, nc, `{"event":"x"}`)
			envs, cf := b.untilClose(t, 10*time.Second)
			codes := errorCodes(t, envs)
			if len(codes) < 49 || codes[len(codes)-1] != realtime.CodeRateLimit {
				t.Fatalf("%d errors before the close (%v...); want the 50 RATE_LIMIT refusals", len(codes), codes[:min(3, len(codes))])
			}
			if cf.code != realtime.ClosePolicy {
				t.Fatalf("%v, want 1008", cf)
			}
		})
	}
}

// A client that stops reading while it keeps sending is evicted as a slow
// consumer; when it reads again it finds the 1013 close after what was
// already on its way (possibly nothing: the burst outruns the writer).
func TestEvictedSlowConsumerThatKeepsSendingGetsItsCloseCode(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{SendQueueBytes: 64 << 10}))
	mux.On("x", func(c *realtime.Ctx) error { return nil })
	srv, _ := smallBufferServer(t, mux)
	pad := strings.Repeat("p", 1000)
	for i := range 5 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			rc := dialRawConn(t, srv.URL("/"), nil) // connected: emits reach it
			b := startBusy(t, rc, `{"event":"x"}`)
			// 2 MB for a client that reads nothing: far more than the
			// queue's 64 KiB and the kernel buffers on the way (its receive
			// buffer does not grow while it does not read).
			for n := range 2000 {
				if err := srv.Mux.In("/").Emit("m", stamped{Seq: n, Pad: pad}); err != nil {
					t.Fatal(err)
				}
			}
			envs, cf := b.untilClose(t, 20*time.Second)
			if cf.code != realtime.CloseTryAgainLater {
				t.Fatalf("%v after %d envelopes, want 1013", cf, len(envs))
			}
			if len(envs) >= 2000 {
				t.Fatalf("%d envelopes before the close; want at most the first ones", len(envs))
			}
		})
	}
}
