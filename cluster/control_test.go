package cluster_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/internal/siotest"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// Socket control across two instances joined by Redis: Target.Disconnect,
// Join and Leave, and ToSocket, from the instance that does not hold the
// sockets.

// closedWith waits for a client's close and checks the code and reason the
// server sent.
func closedWith(t *testing.T, cl *realtimetest.Client, code uint16, reason string) {
	t.Helper()
	got, err := cl.WaitClosed(testkit.Context(t))
	if err != nil || got != code || cl.CloseReason() != reason {
		t.Fatalf("socket %s closed with %d %q (%v), want %d %q", cl.SocketID, got, cl.CloseReason(), err, code, reason)
	}
}

func TestSocketControlAcrossInstancesOverRedis(t *testing.T) {
	a, b := twoInstances(t, clusterOpts{})
	inA := a.srv.Mux.In("/chat")
	u1, u1too, u2 := b.dial(t, "u1"), b.dial(t, "u1"), b.dial(t, "u2")
	sender := a.dial(t, "s")

	// Join u1's sockets from A. B handles the operations of a topic in
	// order, so once a marker sent after it on the same topic is in, the
	// join is done and B is subscribed to the room.
	if err := inA.ToUser("u1").Except(u1too.SocketID).Join("r1"); err != nil {
		t.Fatal(err)
	}
	if err := inA.ToUser("u1").Emit("marker", nil); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*realtimetest.Client{u1, u1too} {
		if _, err := cl.Wait(testkit.Context(t), "marker"); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Request(t, sender, "say", map[string]string{"room": "r1", "text": "to the joined"})
	if _, err := u1.Wait(testkit.Context(t), "said"); err != nil {
		t.Fatal(err)
	}

	// Leave one socket by id, from A.
	if err := inA.ToSocket(u1.SocketID).Leave("r1"); err != nil {
		t.Fatal(err)
	}
	if err := inA.ToSocket(u1.SocketID).Emit("marker", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := u1.Wait(testkit.Context(t), "marker"); err != nil {
		t.Fatal(err)
	}
	testkit.Request(t, sender, "say", map[string]string{"room": "r1", "text": "to nobody"})
	// A marker published after the say: any "said" for B is in before it.
	if err := inA.ToUser("u1").Emit("marker", nil); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*realtimetest.Client{u1, u1too} {
		if _, err := cl.Wait(testkit.Context(t), "marker"); err != nil {
			t.Fatal(err)
		}
		if n := cl.Count("said"); n != 0 {
			t.Fatalf("socket %s, out of the room, got %d said", cl.SocketID, n)
		}
	}

	if err := inA.ToUser("u1").Except(u1.SocketID).Disconnect(4001, "signed out"); err != nil {
		t.Fatal(err)
	}
	closedWith(t, u1too, 4001, "signed out")
	if err := inA.ToSocket(u2.SocketID).Disconnect(4010, "kicked"); err != nil {
		t.Fatal(err)
	}
	closedWith(t, u2, 4010, "kicked")
	testkit.Request(t, u1, "online", map[string]string{})
}

// While Redis is down, control operations fail as emits do, after acting on
// the local sockets.
func TestSocketControlDuringRedisOutage(t *testing.T) {
	rs := redistest.StartServer(t)
	a, _ := twoInstances(t, clusterOpts{url: rs.URL(), presenceTTL: time.Minute})
	in := a.srv.Mux.In("/chat")
	rs.Stop()
	// The operation whose publish finds Redis down is not told; those
	// after it are.
	deadline := time.Now().Add(30 * time.Second)
	for in.ToUser("nobody").Join("r") == nil {
		if time.Now().After(deadline) {
			t.Fatal("control operations kept succeeding with Redis down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// From the first failure, operations fail fast for a second; one a
	// second tries Redis again: try until one fails.
	fails := func(op func() error) error {
		for tries := 0; tries < 100; tries++ {
			if err := op(); err != nil {
				return err
			}
		}
		t.Fatal("an operation kept succeeding with Redis down")
		return nil
	}
	local := a.dial(t, "local")
	joinErr := fails(func() error { return in.ToUser("local").Join("during") })
	disconnectErr := fails(func() error { return in.ToUser("local").Disconnect(4001, "during") })
	for _, err := range []error{joinErr, disconnectErr} {
		var e *realtime.Error
		if !errors.As(err, &e) || e.Code != realtime.CodeInternal || strings.Contains(e.Message, "redis") {
			t.Fatalf("control during the outage: %v, want INTERNAL_ERROR without internals", err)
		}
	}
	closedWith(t, local, 4001, "during")
	rs.Start() // for a quick shutdown
}

// The real socket.io-client on one instance, disconnected from the other.
func TestSocketIOClientDisconnectedFromAnotherInstance(t *testing.T) {
	siotest.NeedNode(t)
	a, b := twoInstances(t, clusterOpts{})
	cl := siotest.Start(t, "kicked", map[string]any{"url": b.srv.Server.URL, "query": map[string]string{"user": "s1"}})
	if l := cl.Next(t); l["step"] != "connected" {
		t.Fatalf("client: %s", siotest.JSON(l))
	}
	if err := a.srv.Mux.In("/chat").ToUser("s1").Disconnect(4001, "signed out"); err != nil {
		t.Fatal(err)
	}
	if l := cl.Next(t); l["step"] != "disconnected" || l["reason"] != "io server disconnect" {
		t.Fatalf("client: %s", siotest.JSON(l))
	}
}
