package realtime_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	bmemory "github.com/lolyjs/realtime/broadcast/memory"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
	"github.com/lolyjs/realtime/store"
	"github.com/lolyjs/realtime/store/memory"
)

// presenceMux serves echo, join and leave, with presence events set by p,
// and reports each socket that is gone, rooms left, on the returned
// channel.
func presenceMux(cfg realtime.Config, p realtime.Presence) (*realtime.Mux, <-chan string) {
	mux := realtime.New(quiet(cfg))
	mux.Use(bindUser)
	gone := make(chan string, 100)
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.On("join", realtime.Typed(func(c *realtime.Ctx, room string) error { return c.Join(room) }))
	mux.On("leave", realtime.Typed(func(c *realtime.Ctx, room string) error { return c.Leave(room) }))
	// A socket's context ends once it has left its rooms.
	mux.OnConnect(func(c *realtime.Ctx) error {
		ctx, id := c.Socket().Context(), c.SocketID()
		go func() {
			<-ctx.Done()
			gone <- id
		}()
		return nil
	})
	mux.Presence(p)
	return mux, gone
}

func mustJoin(t *testing.T, cl *realtimetest.Client, room string) {
	t.Helper()
	if _, err := cl.Request(testkit.Context(t), "join", room); err != nil {
		t.Fatalf("join %s: %v", room, err)
	}
}

func mustLeave(t *testing.T, cl *realtimetest.Client, room string) {
	t.Helper()
	if _, err := cl.Request(testkit.Context(t), "leave", room); err != nil {
		t.Fatalf("leave %s: %v", room, err)
	}
}

// presenceData is the data of both presence events.
type presenceData struct {
	Room   string `json:"room"`
	User   string `json:"user"`
	Action string `json:"action"`
	Count  *int   `json:"count"`
}

func (d presenceData) String() string {
	if d.Count != nil {
		return fmt.Sprintf("%s count %d", d.Room, *d.Count)
	}
	return d.Room + " " + d.User + " " + d.Action
}

// presenceOf formats the presence events among msgs, in order.
func presenceOf(t *testing.T, msgs []realtimetest.Message) []string {
	t.Helper()
	out := []string{}
	for _, m := range msgs {
		if m.Event != realtime.EventPresence && m.Event != realtime.EventPresenceCount {
			continue
		}
		var d presenceData
		if err := m.Decode(&d); err != nil {
			t.Fatalf("%s: %s: %v", m.Event, m.Data, err)
		}
		if (m.Event == realtime.EventPresenceCount) != (d.Count != nil) {
			t.Fatalf("%s carries %s", m.Event, m.Data)
		}
		out = append(out, d.String())
	}
	return out
}

// seenPresence returns the presence events a client received since the
// last call, after an echo: on one instance, whatever the server queued
// for it before has arrived by then.
func seenPresence(t *testing.T, cl *realtimetest.Client) []string {
	t.Helper()
	syncEcho(t, cl)
	return presenceOf(t, cl.Events())
}

func wantPresence(t *testing.T, who string, cl *realtimetest.Client, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := seenPresence(t, cl); !slices.Equal(got, want) {
		t.Fatalf("%s got presence %q; want %q", who, got, want)
	}
}

func hookRecorder(tr *trail) func(realtime.PresenceChange) {
	return func(c realtime.PresenceChange) {
		action := "left"
		if c.Joined {
			action = "joined"
		}
		tr.add(fmt.Sprintf("%s %s %s %s %d", c.Namespace, c.Room, c.User, action, c.Count))
	}
}

// A user is announced once when its first socket joins and once when its
// last one leaves or disconnects, however many sockets it has; anonymous
// sockets hear the events but are never announced; the hook is called
// once per change.
func TestPresenceEventsOncePerUser(t *testing.T) {
	var hooks trail
	mux, gone := presenceMux(realtime.Config{}, realtime.Presence{Mode: realtime.PresenceEvents, OnChange: hookRecorder(&hooks)})
	srv := realtimetest.NewServer(t, mux)

	obs := dialAs(t, srv, "/", "obs")
	mustJoin(t, obs, "r")
	wantPresence(t, "obs", obs, "r obs join")

	a1, a2, a3 := dialAs(t, srv, "/", "alice"), dialAs(t, srv, "/", "alice"), dialAs(t, srv, "/", "alice")
	mustJoin(t, a1, "r")
	wantPresence(t, "obs", obs, "r alice join")
	wantPresence(t, "alice's first socket", a1, "r alice join")
	mustJoin(t, a2, "r")
	mustJoin(t, a3, "r")
	mustJoin(t, a1, "other") // another room: nothing in r
	anon := dial(t, srv, "/")
	mustJoin(t, anon, "r")
	wantPresence(t, "obs", obs)
	wantPresence(t, "the anonymous socket", anon)
	wantPresence(t, "alice's other sockets", a2)

	mustLeave(t, a1, "r")
	a2.Close()
	<-gone
	wantPresence(t, "obs, with a socket of alice left", obs)
	mustLeave(t, a3, "r")
	wantPresence(t, "obs", obs, "r alice leave")
	wantPresence(t, "alice's last socket, out of the room", a3)
	wantPresence(t, "the anonymous socket", anon, "r alice leave")

	// A user whose only socket disconnects leaves at once.
	bob := dialAs(t, srv, "/", "bob")
	mustJoin(t, bob, "r")
	bob.Close()
	<-gone
	wantPresence(t, "obs", obs, "r bob join", "r bob leave")

	// The hook saw each change once; obs leaving last says when all ran.
	mustLeave(t, obs, "r")
	testkit.Eventually(t, "the hook saw obs leave", func() bool { return len(hooks.get()) >= 7 })
	want := []string{"/ r obs joined 1", "/ r alice joined 2", "/ other alice joined 1", "/ r alice left 1",
		"/ r bob joined 2", "/ r bob left 1", "/ r obs left 0"}
	if got := hooks.get(); !slices.Equal(got, want) {
		t.Fatalf("hook calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A room in counts mode sends the number of users, not one event per user,
// and at most once per CountInterval; a socket that joins gets the count;
// Rooms picks the mode per room.
func TestPresenceCountsCoalesced(t *testing.T) {
	const interval = 300 * time.Millisecond
	mux, _ := presenceMux(realtime.Config{Limits: realtime.Limits{ConnectionsPerIP: -1}}, realtime.Presence{
		Rooms: func(room string) realtime.PresenceMode {
			switch {
			case room == "boom":
				panic("a careless Rooms")
			case strings.HasPrefix(room, "big"):
				return realtime.PresenceCounts
			case room == "quiet":
				return realtime.PresenceOff
			}
			return realtime.PresenceEvents
		},
		CountInterval: interval,
	})
	srv := realtimetest.NewServer(t, mux)
	obs := dialAs(t, srv, "/", "obs")
	mustJoin(t, obs, "big")
	m, err := obs.Wait(testkit.Context(t), realtime.EventPresenceCount)
	if err != nil || string(m.Data) != `{"room":"big","count":1}` {
		t.Fatalf("first count: %s, %v", m.Data, err)
	}

	const users = 30
	start := time.Now()
	var clients []*realtimetest.Client
	for i := range users {
		cl := dialAs(t, srv, "/", fmt.Sprintf("u%02d", i))
		mustJoin(t, cl, "big")
		mustJoin(t, cl, "quiet")
		clients = append(clients, cl)
	}
	var counts []int
	for len(counts) == 0 || counts[len(counts)-1] != users+1 {
		m, err := obs.Wait(testkit.Context(t), realtime.EventPresenceCount)
		if err != nil {
			t.Fatalf("counts so far %v: %v", counts, err)
		}
		var d presenceData
		if err := m.Decode(&d); err != nil || d.Count == nil || d.Room != "big" {
			t.Fatalf("count event %s", m.Data)
		}
		counts = append(counts, *d.Count)
	}
	took := time.Since(start)
	// Each count sent after the joins started is at least an interval after
	// the previous one.
	if limit := int(took/interval) + 1; len(counts) > limit {
		t.Fatalf("%d counts in %v, with a %v interval: %v", len(counts), took, interval, counts)
	}
	for i := 1; i < len(counts); i++ {
		if counts[i] <= counts[i-1] {
			t.Fatalf("counts %v: while users only join, each count must be higher than the last", counts)
		}
	}
	t.Logf("%d users joined in %v; the observer got %d counts: %v", users, took.Round(time.Millisecond), len(counts), counts)

	// A Rooms that panics leaves the room without presence events.
	mustJoin(t, obs, "boom")
	mustLeave(t, obs, "boom")
	// A second socket of a user already there gets the count at once and
	// changes nothing.
	again := dialAs(t, srv, "/", "u00")
	mustJoin(t, again, "big")
	wantPresence(t, "a second socket of u00", again, fmt.Sprintf("big count %d", users+1))
	// Users leave: the count goes down to the observer alone.
	for _, cl := range clients {
		mustLeave(t, cl, "big")
	}
	mustLeave(t, again, "big")
	for {
		m, err := obs.Wait(testkit.Context(t), realtime.EventPresenceCount)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Data) == `{"room":"big","count":1}` {
			break
		}
	}
	// Nothing but counts came for big, and nothing for quiet.
	for _, p := range seenPresence(t, obs) {
		if !strings.HasPrefix(p, "big count ") {
			t.Fatalf("unexpected presence event %q", p)
		}
	}
	for i, cl := range clients {
		for _, p := range seenPresence(t, cl) {
			if !strings.HasPrefix(p, "big count ") {
				t.Fatalf("client %d got %q", i, p)
			}
		}
	}
}

// Presence settings are checked: Mux.Presence panics at once, a route's
// problems come from Start, and a cluster whose store keeps no rosters is
// refused.
func TestPresenceSettingsChecked(t *testing.T) {
	panics := func(what string, fn func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Fatalf("%s did not panic", what)
			}
		}()
		fn()
	}
	panics("Presence without rooms", func() { realtime.New(realtime.Config{}).Presence(realtime.Presence{}) })
	panics("Presence with a bad mode", func() { realtime.New(realtime.Config{}).Presence(realtime.Presence{Mode: 7}) })
	panics("Presence twice", func() {
		m := realtime.New(realtime.Config{})
		m.Presence(realtime.Presence{Mode: realtime.PresenceEvents})
		m.Presence(realtime.Presence{Mode: realtime.PresenceEvents})
	})

	m := realtime.New(quiet(realtime.Config{}))
	m.Route(realtime.Route{Namespace: "/a", Presence: &realtime.Presence{Mode: realtime.PresenceCounts, CountInterval: time.Millisecond},
		Events: map[string]realtime.Event{"x": {Handler: func(*realtime.Ctx) error { return nil }}}})
	m.Namespace("/b", func(r *realtime.Mux) { r.Presence(realtime.Presence{Mode: realtime.PresenceEvents}) })
	m.Route(realtime.Route{Namespace: "/b", Presence: &realtime.Presence{Mode: realtime.PresenceEvents},
		Events: map[string]realtime.Event{"x": {Handler: func(*realtime.Ctx) error { return nil }}}})
	err := m.Start(testkit.Context(t))
	for _, want := range []string{"route /a: Presence: CountInterval is 1ms", "route /b: Presence is also set with Mux.Presence"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Start: %v; want a problem %q", err, want)
		}
	}

	noRoster := struct{ store.Store }{memory.New()}
	c, _ := presenceMux(realtime.Config{Store: noRoster, Broker: bmemory.New()}, realtime.Presence{Mode: realtime.PresenceEvents})
	if err := c.Start(testkit.Context(t)); err == nil || !strings.Contains(err.Error(), "store.Roster") {
		t.Fatalf("Start of a cluster whose store has no rosters: %v", err)
	}
}
