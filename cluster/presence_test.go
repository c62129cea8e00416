package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/internal/siotest"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
	"github.com/lolyjs/realtime/store"
)

// hookLog records the calls of Presence.OnChange, from every instance.
type hookLog struct {
	mu    sync.Mutex
	calls []string
}

func (h *hookLog) add(c realtime.PresenceChange) {
	action := "left"
	if c.Joined {
		action = "joined"
	}
	h.mu.Lock()
	h.calls = append(h.calls, c.Room+" "+c.User+" "+action)
	h.mu.Unlock()
}

func (h *hookLog) get() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// waitHooks waits until the hook calls include every one of want.
func (h *hookLog) wait(t *testing.T, within time.Duration, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := h.get()
		if containsAll(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("hook calls %q; waited %v for %q", got, within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// containsAll reports whether got holds each of want (as many times).
func containsAll(got, want []string) bool {
	left := slices.Clone(got)
	for _, w := range want {
		i := slices.Index(left, w)
		if i < 0 {
			return false
		}
		left = slices.Delete(left, i, i+1)
	}
	return true
}

func sameItems(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

// observer collects the presence events a client receives, in order, as
// "room user action" or "room count n".
type observer struct {
	name string
	cl   *realtimetest.Client
	seen []string
}

func observe(name string, cl *realtimetest.Client) *observer { return &observer{name: name, cl: cl} }

// wait takes the client's events of one presence name until done holds.
func (o *observer) wait(t *testing.T, event string, within time.Duration, done func([]string) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for !done(o.seen) {
		m, err := o.cl.Wait(ctx, event)
		if err != nil {
			t.Fatalf("%s: presence so far %q: %v", o.name, o.seen, err)
		}
		var d struct {
			Room, User, Action string
			Count              *int
		}
		if err := m.Decode(&d); err != nil {
			t.Fatalf("%s: %s %s: %v", o.name, event, m.Data, err)
		}
		if d.Count != nil {
			o.seen = append(o.seen, fmt.Sprintf("%s count %d", d.Room, *d.Count))
		} else {
			o.seen = append(o.seen, d.Room+" "+d.User+" "+d.Action)
		}
	}
}

// waitFor waits until the observer has seen each of want.
func (o *observer) waitFor(t *testing.T, want ...string) {
	t.Helper()
	o.wait(t, realtime.EventPresence, 10*time.Second, func(seen []string) bool { return containsAll(seen, want) })
}

// of returns the actions the observer saw for one user, in order.
func (o *observer) of(user string) []string {
	var out []string
	for _, s := range o.seen {
		if f := strings.Fields(s); len(f) == 3 && f[1] == user {
			out = append(out, f[2])
		}
	}
	return out
}

func joinRoom(t *testing.T, cl *realtimetest.Client, room string) {
	t.Helper()
	testkit.Request(t, cl, "join", map[string]string{"room": room})
}

func leaveRoom(t *testing.T, cl *realtimetest.Client, room string) {
	t.Helper()
	testkit.Request(t, cl, "leave", map[string]string{"room": room})
}

// sentinels has a new user join on each instance and waits for the
// observers to see both: each instance publishes its messages in order,
// so whatever either published before has arrived by then.
func sentinels(t *testing.T, room string, a, b *instance, observers ...*observer) []string {
	t.Helper()
	joinRoom(t, a.dial(t, "zA"), room)
	joinRoom(t, b.dial(t, "zB"), room)
	want := []string{room + " zA join", room + " zB join"}
	for _, o := range observers {
		o.waitFor(t, want...)
	}
	return want
}

func eventsPresence(h *hookLog) *realtime.Presence {
	return &realtime.Presence{Mode: realtime.PresenceEvents, OnChange: h.add}
}

// A user with sockets on both instances joins once, when its first socket
// joins, and leaves once, when its last one is gone, for the members on
// both instances; the hook is called once per change, cluster-wide.
func TestPresenceOncePerUserAcrossInstances(t *testing.T) {
	var hooks hookLog
	a, b := twoInstances(t, clusterOpts{presence: eventsPresence(&hooks)})
	oa, ob := observe("observer on a", a.dial(t, "obsA")), observe("observer on b", b.dial(t, "obsB"))
	// A member hears of the users who join after it, not of those it
	// found there.
	joinRoom(t, oa.cl, "r")
	joinRoom(t, ob.cl, "r")
	oa.waitFor(t, "r obsA join", "r obsB join")
	ob.waitFor(t, "r obsB join")

	alice := []*realtimetest.Client{a.dial(t, "alice"), a.dial(t, "alice"), b.dial(t, "alice")}
	joinRoom(t, alice[0], "r")
	for _, o := range []*observer{oa, ob} {
		o.waitFor(t, "r alice join")
	}
	joinRoom(t, alice[2], "r")
	joinRoom(t, alice[1], "r")
	anon := a.dial(t, "")
	joinRoom(t, anon, "r")
	leaveRoom(t, alice[0], "r")
	alice[1].Close()
	leaveRoom(t, alice[2], "r") // alice's last socket, unless the close of [1] is slower
	for _, o := range []*observer{oa, ob} {
		o.waitFor(t, "r alice leave")
	}
	last := sentinels(t, "r", a, b, oa, ob)

	common := append([]string{"r obsB join", "r alice join", "r alice leave"}, last...)
	for o, want := range map[*observer][]string{oa: append(common, "r obsA join"), ob: common} {
		if !sameItems(o.seen, want) || !slices.Equal(o.of("alice"), []string{"join", "leave"}) {
			t.Fatalf("%s saw %q; want %q, alice's join first", o.name, o.seen, want)
		}
	}
	got := hooks.wait(t, 10*time.Second, "r zA joined", "r zB joined")
	wantHooks := []string{"r obsA joined", "r obsB joined", "r alice joined", "r alice left", "r zA joined", "r zB joined"}
	if !sameItems(got, wantHooks) {
		t.Fatalf("hook calls %q; want %q", got, wantHooks)
	}
}

// A user whose sockets on two instances join and leave a room over and
// over, concurrently: every observer sees the user's joins and leaves
// alternate, ending with a leave, and the hook is called exactly once per
// change of the room's roster, cluster-wide.
func TestPresenceFlapAcrossInstances(t *testing.T) {
	var hooks hookLog
	a, b := twoInstances(t, clusterOpts{presence: eventsPresence(&hooks)})
	oa, ob := observe("observer on a", a.dial(t, "obsA")), observe("observer on b", b.dial(t, "obsB"))
	joinRoom(t, oa.cl, "f")
	joinRoom(t, ob.cl, "f")
	oa.waitFor(t, "f obsA join", "f obsB join")
	ob.waitFor(t, "f obsB join")
	const rounds = 30
	var wg sync.WaitGroup
	for _, cl := range []*realtimetest.Client{a.dial(t, "alice"), b.dial(t, "alice"), a.dial(t, "alice")} {
		wg.Go(func() {
			for range rounds {
				if _, err := cl.Request(testkit.Context(t), "join", map[string]string{"room": "f"}); err != nil {
					t.Error(err)
					return
				}
				if _, err := cl.Request(testkit.Context(t), "leave", map[string]string{"room": "f"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	sentinels(t, "f", a, b, oa, ob)
	for _, o := range []*observer{oa, ob} {
		seen := o.of("alice")
		if len(seen) < 2 {
			t.Fatalf("%s saw alice %q", o.name, seen)
		}
		for i, action := range seen {
			if want := [2]string{"join", "leave"}[i%2]; action != want {
				t.Fatalf("%s saw alice %q: event %d is a %s, where a %s must come", o.name, seen, i, action, want)
			}
		}
		if len(seen)%2 != 0 {
			t.Fatalf("%s saw alice %q: the last must be a leave", o.name, seen)
		}
	}
	calls := hooks.wait(t, 10*time.Second, "f zA joined", "f zB joined")
	states, err := a.backends.Store.(store.Roster).RosterStates(testkit.Context(t), "presence:roster:/chat:f")
	if err != nil {
		t.Fatal(err)
	}
	joined, left := 0, 0
	for _, c := range calls {
		switch c {
		case "f alice joined":
			joined++
		case "f alice left":
			left++
		}
	}
	if joined+left+4 != len(calls) || int64(len(calls)) != states[0].Version || joined != left {
		t.Fatalf("%d hook calls (alice joined %d, left %d) for %d roster changes: %q", len(calls), joined, left, states[0].Version, calls)
	}
	t.Logf("3 sockets of alice on 2 instances, %d join/leave rounds each: %d changes of the roster; the observers saw %d and %d of alice's",
		rounds, joined+left, len(oa.of("alice")), len(ob.of("alice")))
}

// A room in counts mode counts users, not sockets, across instances.
func TestPresenceCountsAcrossInstances(t *testing.T) {
	a, b := twoInstances(t, clusterOpts{presence: &realtime.Presence{
		Rooms: func(room string) realtime.PresenceMode {
			if room == "big" {
				return realtime.PresenceCounts
			}
			return realtime.PresenceOff
		},
		CountInterval: 100 * time.Millisecond,
	}})
	oa, ob := observe("observer on a", a.dial(t, "obsA")), observe("observer on b", b.dial(t, "obsB"))
	joinRoom(t, oa.cl, "big")
	joinRoom(t, ob.cl, "big")
	const users = 10
	var onA, onB []*realtimetest.Client
	for i := range users {
		onA = append(onA, a.dial(t, fmt.Sprintf("u%d", i)))
		onB = append(onB, b.dial(t, fmt.Sprintf("u%d", i)))
		joinRoom(t, onA[i], "big")
		joinRoom(t, onB[i], "big")
	}
	want := fmt.Sprintf("big count %d", users+2)
	for _, o := range []*observer{oa, ob} {
		o.wait(t, realtime.EventPresenceCount, 10*time.Second, func(seen []string) bool {
			return len(seen) > 0 && seen[len(seen)-1] == want
		})
	}
	roster := a.backends.Store.(store.Roster)
	before, err := roster.RosterStates(testkit.Context(t), "presence:roster:/chat:big")
	if err != nil {
		t.Fatal(err)
	}
	// Every user is still on b: nothing changes.
	for _, cl := range onA {
		leaveRoom(t, cl, "big")
	}
	after, err := roster.RosterStates(testkit.Context(t), "presence:roster:/chat:big")
	if err != nil || after[0].Version != before[0].Version || after[0].Count != users+2 {
		t.Fatalf("after the sockets on a left, the roster went from %+v to %+v (%v)", before, after, err)
	}
	for _, cl := range onB {
		leaveRoom(t, cl, "big")
	}
	for _, o := range []*observer{oa, ob} {
		o.wait(t, realtime.EventPresenceCount, 10*time.Second, func(seen []string) bool {
			return len(seen) > 0 && seen[len(seen)-1] == "big count 2"
		})
		for _, s := range o.seen {
			var n int
			if _, err := fmt.Sscanf(s, "big count %d", &n); err != nil || n > users+2 || n < 1 {
				t.Fatalf("%s saw %q", o.name, o.seen)
			}
		}
		t.Logf("%s saw %d counts: %q", o.name, len(o.seen), o.seen)
	}
}

// The real socket.io-client receives the presence events as ordinary
// events.
func TestPresenceSocketIOClient(t *testing.T) {
	siotest.NeedNode(t)
	a, b := twoInstances(t, clusterOpts{presence: &realtime.Presence{Mode: realtime.PresenceEvents}})
	listener := siotest.Start(t, "listen", map[string]any{"url": a.srv.Server.URL, "query": map[string]string{"user": "sio"},
		"room": "r", "event": realtime.EventPresence, "expect": 2})
	if l := listener.Next(t); l["step"] != "ready" {
		t.Fatalf("listener: %s", siotest.JSON(l))
	}
	alice := b.dial(t, "alice")
	joinRoom(t, alice, "r")
	leaveRoom(t, alice, "r")
	got := siotest.JSON(listener.Next(t)["value"])
	if want := `[{"action":"join","room":"r","user":"alice"},{"action":"leave","room":"r","user":"alice"}]`; got != want {
		t.Fatalf("socket.io-client got %s; want %s", got, want)
	}
}

// Redis restarted empty while users come and go: once Redis is back, the
// members on both instances are told exactly what changed during the
// outage (bob joined, alice left), nothing twice, nothing for the users
// there all along or for carol, who came and went during it; the hook is
// not called again for the users there all along.
func TestPresenceAfterRedisRestartedEmpty(t *testing.T) {
	rs := redistest.StartServer(t)
	var hooks hookLog
	const ttl = time.Second
	a, b := twoInstances(t, clusterOpts{url: rs.URL(), presenceTTL: ttl, presence: eventsPresence(&hooks),
		logger: slog.New(slog.DiscardHandler)})
	oa, ob := observe("observer on a", a.dial(t, "obsA")), observe("observer on b", b.dial(t, "obsB"))
	alice, dave := a.dial(t, "alice"), b.dial(t, "dave")
	for _, cl := range []*realtimetest.Client{oa.cl, ob.cl, alice, dave} {
		joinRoom(t, cl, "r")
	}
	before := map[*observer][]string{
		oa: {"r obsA join", "r obsB join", "r alice join", "r dave join"},
		ob: {"r obsB join", "r alice join", "r dave join"},
	}
	for o, want := range before {
		o.waitFor(t, want...)
	}
	hooks.wait(t, 5*time.Second, "r obsA joined", "r obsB joined", "r alice joined", "r dave joined")

	rs.Stop()
	leaveRoom(t, alice, "r")
	joinRoom(t, a.dial(t, "bob"), "r")
	carol := a.dial(t, "carol")
	joinRoom(t, carol, "r")
	leaveRoom(t, carol, "r")
	rs.Start()
	back := time.Now()

	after := []string{"r bob join", "r alice leave"}
	for _, o := range []*observer{oa, ob} {
		o.waitFor(t, after[0])
		joined := time.Since(back)
		o.waitFor(t, after[1])
		t.Logf("%s was told that bob joined %v and that alice left %v after Redis came back (TTL %v)",
			o.name, joined.Round(time.Millisecond), time.Since(back).Round(time.Millisecond), ttl)
	}
	// Nothing more comes: wait for a few more heartbeats (PresenceTTL/4).
	time.Sleep(ttl)
	for _, o := range []*observer{oa, ob} {
		o.seen = append(o.seen, presenceEvents(t, o.cl.Events())...)
		if !sameItems(o.seen, append(before[o], after...)) {
			t.Fatalf("%s saw %q; want %q, then %q", o.name, o.seen, before[o], after)
		}
	}
	calls := hooks.get()
	if !containsAll(calls, []string{"r bob joined"}) || len(calls) > 6 {
		t.Fatalf("hook calls %q: want each user joined once, bob included (and alice left, or not: Redis lost her)", calls)
	}
}

// presenceEvents formats the presence events among msgs.
func presenceEvents(t *testing.T, msgs []realtimetest.Message) []string {
	t.Helper()
	var out []string
	for _, m := range msgs {
		if m.Event != realtime.EventPresence {
			continue
		}
		var d struct{ Room, User, Action string }
		if err := m.Decode(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d.Room+" "+d.User+" "+d.Action)
	}
	return out
}

// Room names and user ids are opaque to presence events: the characters
// the roster and the cluster messages use as separators are ordinary in
// them.
func TestPresenceOddNamesAcrossInstances(t *testing.T) {
	a, b := twoInstances(t, clusterOpts{presence: &realtime.Presence{Mode: realtime.PresenceEvents}})
	const room = "a:b\n{c} \"é\" #e u"
	oa := observe("observer on a", a.dial(t, "obs"))
	joinRoom(t, oa.cl, room)
	oa.waitFor(t, room+" obs join")
	user := `"q\n`
	cl := b.dial(t, url.QueryEscape(user))
	joinRoom(t, cl, room)
	leaveRoom(t, cl, room)
	oa.waitFor(t, room+" "+user+" join", room+" "+user+" leave")
}
