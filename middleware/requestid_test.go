package middleware_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// mustV7 parses id and fails unless it is a UUID version 7.
func mustV7(t *testing.T, what, id string) uuid.UUID {
	t.Helper()
	u, err := uuid.Parse(id)
	if err != nil {
		t.Fatalf("%s: request id %q is not a UUID: %v", what, id, err)
	}
	if u.Version() != 7 {
		t.Fatalf("%s: request id %q is UUID version %d, want 7", what, id, u.Version())
	}
	return u
}

// Every event gets its own server-made UUID v7, connects and disconnects
// included, and the ids of one socket's events increase.
func TestRequestIDIsFreshSortableUUIDv7(t *testing.T) {
	connectID := make(chan string, 1)
	disconnectID := make(chan string, 1)
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID)
	mux.OnConnect(func(c *realtime.Ctx) error { connectID <- c.RequestID(); return nil })
	mux.OnDisconnect(func(c *realtime.Ctx) error { disconnectID <- c.RequestID(); return nil })
	mux.On("id", func(c *realtime.Ctx) error { return c.Ack(c.RequestID()) })
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)

	last := <-connectID
	mustV7(t, "connect", last)
	seen := map[string]bool{last: true}
	next := func(what, id string) {
		t.Helper()
		mustV7(t, what, id)
		if seen[id] {
			t.Fatalf("%s: request id %s used twice", what, id)
		}
		seen[id] = true
		if id <= last {
			t.Fatalf("%s: request id %s does not sort after the previous %s", what, id, last)
		}
		last = id
	}
	// One by one.
	for i := range 20 {
		raw, err := cl.Request(testkit.Context(t), "id", nil)
		if err != nil {
			t.Fatal(err)
		}
		var id string
		if err := json.Unmarshal(raw, &id); err != nil {
			t.Fatal(err)
		}
		next(fmt.Sprintf("request %d", i), id)
	}
	// Many in one frame, within the same millisecond: still distinct and
	// increasing (the ids are monotonic within a process).
	for i, m := range burst(t, cl, "id", 100) {
		var id string
		if m.Error != nil || json.Unmarshal(m.Data, &id) != nil {
			t.Fatalf("burst ack %d: %s", i, m.Raw)
		}
		next(fmt.Sprintf("burst event %d", i), id)
	}
	cl.Close()
	select {
	case id := <-disconnectID:
		next("disconnect", id)
	case <-testkit.Context(t).Done():
		t.Fatal("no disconnect")
	}
}

// A client cannot choose the request id: a requestId in the envelope or in
// the data changes nothing, and the error object carries the server's id.
func TestRequestIDCannotBeSetByClient(t *testing.T) {
	handlerSaw := make(chan string, 1)
	mux := realtime.New(quiet())
	mux.Use(middleware.RequestID)
	mux.On("id", func(c *realtime.Ctx) error { return c.Ack(c.RequestID()) })
	mux.On("fail", func(c *realtime.Ctx) error {
		handlerSaw <- c.RequestID()
		return c.Error("NOPE", "refused", nil)
	})
	srv := realtimetest.NewServer(t, mux)
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)

	const forged = "ffffffff-ffff-7fff-bfff-ffffffffffff" // a valid v7, sorting after any real one
	id := cl.NextAckID()
	env := fmt.Sprintf(`{"event":"id","id":%d,"requestId":%q,"data":{"requestId":%q}}`, id, forged, forged)
	if err := cl.SendRaw([]byte(env)); err != nil {
		t.Fatal(err)
	}
	m, err := cl.WaitAck(testkit.Context(t), id)
	if err != nil || m.Error != nil {
		t.Fatalf("ack: %v %s", err, m.Raw)
	}
	var got string
	_ = json.Unmarshal(m.Data, &got)
	mustV7(t, "forged envelope", got)
	if got == forged {
		t.Fatalf("the client chose the request id")
	}

	id = cl.NextAckID()
	env = fmt.Sprintf(`{"event":"fail","id":%d,"requestId":%q,"data":{"requestId":%q}}`, id, forged, forged)
	if err := cl.SendRaw([]byte(env)); err != nil {
		t.Fatal(err)
	}
	ack, err := cl.WaitAck(testkit.Context(t), id)
	if err != nil || ack.Error == nil {
		t.Fatalf("error ack: %v %s", err, ack.Raw)
	}
	ev, err := cl.WaitError(testkit.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	serverID := <-handlerSaw
	mustV7(t, "failed event", serverID)
	if ack.Error.RequestID != serverID || ev.RequestID != serverID {
		t.Fatalf("error objects carry request ids %q (ack) and %q (event); the handler saw %q (forged %q)",
			ack.Error.RequestID, ev.RequestID, serverID, forged)
	}
}
