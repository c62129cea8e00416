package realtime_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	bmemory "github.com/lolyjs/realtime/broadcast/memory"
	"github.com/lolyjs/realtime/internal/testkit"
	smemory "github.com/lolyjs/realtime/store/memory"
)

// A Socket.IO client that stops taking what it is sent (a polling client
// that stops polling, a WebSocket client that stops reading) in a room
// receiving a burst, with the burst emitted on its own instance or on
// another one: the server evicts it with 1013 and goes on serving the
// room's other members, every message in order; new sockets still connect;
// both instances shut down cleanly within their deadline.
func TestStalledSocketIOClientDoesNotStallItsNamespace(t *testing.T) {
	for _, transport := range []string{"polling", "websocket"} {
		for _, origin := range []string{"local", "remote"} {
			t.Run(transport+"/"+origin, func(t *testing.T) {
				testStalledSocketIOClient(t, transport, origin)
			})
		}
	}
}

func testStalledSocketIOClient(t *testing.T, transport, origin string) {
	const messages = 6000
	hub, st := bmemory.NewHub(), smemory.New()
	t.Cleanup(func() { _ = st.Close() })
	joined := make(chan string, 16)
	left := make(chan disconnect, 16)
	newMux := func(members bool) *realtime.Mux {
		br := hub.Broker()
		t.Cleanup(func() { _ = br.Close() })
		mux := realtime.New(quiet(realtime.Config{
			Store:       st,
			Broker:      br,
			PresenceTTL: time.Minute,
		}))
		mux.Use(bindUser)
		if members {
			mux.OnConnect(func(c *realtime.Ctx) error { joined <- c.UserID(); return c.Join("r") })
			mux.OnDisconnect(func(c *realtime.Ctx) error {
				left <- disconnect{c.SocketID(), c.UserID(), c.DisconnectReason()}
				return nil
			})
		}
		mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(c.Data()) })
		return mux
	}
	muxA, muxB := newMux(true), newMux(false)
	srvA, _ := smallBufferServer(t, muxA)
	smallBufferServer(t, muxB) // started and served, as a real instance

	native := dialMember(t, srvA.URL("/"), "native")
	sio := dialSIOMember(t, srvA, http.Header{"X-User": {"sio"}})
	stalled := http.Header{"X-User": {"stalled"}}
	switch transport {
	case "polling":
		p := openPolling(t, srvA, stalled)
		p.post("40")
		p.pollUntil("40") // connected; from now on it never polls again
	case "websocket":
		stalledSIOWebSocket(t, srvA, stalled)
	}
	for range 3 {
		receive(t, joined, "three members in the room")
	}

	emitter := muxA
	if origin == "remote" {
		emitter = muxB
	}
	room := emitter.In("/").ToRoom("r")
	pad := strings.Repeat("p", 1000)
	readers := []*atomic.Int64{&native.received, &sio.received}
	done := make(chan error, 1)
	go func() {
		for i := range messages {
			if err := room.Emit("m", stamped{Seq: i, Pad: pad}); err != nil {
				done <- fmt.Errorf("emit %d: %w", i, err)
				return
			}
			// Never more than 200 messages ahead of a reading member, so
			// that a reader on a loaded machine is not taken for a slow one.
			for _, r := range readers {
				stuck := time.Now().Add(20 * time.Second)
				for int64(i)-r.Load() > 200 {
					if time.Now().After(stuck) {
						done <- fmt.Errorf("deliveries stopped: a reading member has %d of %d", r.Load(), i)
						return
					}
					time.Sleep(100 * time.Microsecond)
				}
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("emitting to the room hangs")
	}
	testkit.Eventually(t, "every message at the native member", func() bool { return native.received.Load() == messages })
	testkit.Eventually(t, "every message at the Socket.IO member", func() bool { return sio.received.Load() == messages })
	if native.outOfSeq.Load() != 0 || sio.outOfSeq.Load() != 0 {
		t.Fatalf("out of order: native %d, Socket.IO %d", native.outOfSeq.Load(), sio.outOfSeq.Load())
	}

	gone := receive(t, left, "the stalled client's disconnect")
	var ce *realtime.CloseError
	if gone.user != "stalled" || !errorsAs(gone.reason, &ce) || ce.Code != realtime.CloseTryAgainLater {
		t.Fatalf("disconnect of %q (%v); want the stalled client with 1013", gone.user, gone.reason)
	}

	// The namespace still takes new sockets, which get the room's emits.
	late := dialAs(t, srvA, "/", "late")
	if _, err := late.Request(testkit.Context(t), "echo", "hi"); err != nil {
		t.Fatalf("a socket connected after the burst: %v", err)
	}
	receive(t, joined, "the late socket's connect")
	if err := room.Emit("after", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := late.Wait(testkit.Context(t), "after"); err != nil {
		t.Fatalf("an emit after the burst: %v", err)
	}

	for name, mux := range map[string]*realtime.Mux{"A": muxA, "B": muxB} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := mux.Shutdown(ctx)
		cancel()
		if err != nil {
			t.Fatalf("instance %s did not shut down cleanly: %v", name, err)
		}
	}
}
