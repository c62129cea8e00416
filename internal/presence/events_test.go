package presence

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sink records what Events delivers to the sockets of an instance.
type sink struct {
	mu  sync.Mutex
	got []string
}

func (s *sink) deliver(ns, room string, m *link.Message) {
	s.mu.Lock()
	s.got = append(s.got, m.Event[len("__loly:"):]+" "+string(m.Data))
	s.mu.Unlock()
}

func (s *sink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func (s *sink) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.got
	s.got = nil
	return out
}

// newTestEvents returns Events for namespace "/" where every room has
// events, except rooms named "c*", which have counts.
func newTestEvents(t *testing.T, roster *memory.Store, holder string, local func(room, user string) bool) (*Events, *sink) {
	t.Helper()
	out := &sink{}
	e := NewEvents(EventsConfig{
		Roster: roster,
		Namespaces: map[string]Namespace{"/": {Interval: 10 * time.Millisecond, Mode: func(room string) Mode {
			if room[0] == 'c' {
				return ModeCounts
			}
			return ModeEvents
		}}},
		Local:    func(ns, room, user string) bool { return local(room, user) },
		Audience: func(ns, room string) bool { return true },
		Deliver:  out.deliver,
		Linger:   time.Minute,
		Logger:   slog.New(slog.DiscardHandler),
	}, holder)
	t.Cleanup(func() { e.Close(time.Second) })
	return e, out
}

func statementJSON(user, action string, epoch, version int64, rebuilt bool) []byte {
	r := ""
	if rebuilt {
		r = `,"r":true`
	}
	return fmt.Appendf(nil, `{"room":"r","user":%q,"action":%q,"e":%d,"v":%d%s}`, user, action, epoch, version, r)
}

func wantGot(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: delivered %q; want %q", what, got, want)
	}
}

// Statements from other instances reach the sockets only when they are
// newer than the view and change it: late, repeated or stale ones never
// do, and a user's joins and leaves alternate.
func TestStatementsOutOfOrder(t *testing.T) {
	e, out := newTestEvents(t, memory.New(), "h", func(string, string) bool { return false })
	recv := func(user, action string, epoch, version int64, rebuilt bool) {
		e.Receive("/", "r", EventPresence, statementJSON(user, action, epoch, version, rebuilt))
	}
	recv("alice", "join", 10, 1, false)
	wantGot(t, "first", out.take(), `presence {"room":"r","user":"alice","action":"join"}`)
	recv("alice", "leave", 10, 3, false)
	recv("alice", "join", 10, 2, false) // late: older than the leave
	recv("alice", "leave", 10, 3, false)
	wantGot(t, "late and repeated", out.take(), `presence {"room":"r","user":"alice","action":"leave"}`)
	recv("bob", "leave", 10, 4, false) // a leave of a user never announced here
	wantGot(t, "unknown leave", out.take())
	recv("bob", "join", 10, 5, false)
	recv("bob", "join", 10, 7, false) // a leave in between was lost: no change
	wantGot(t, "bob", out.take(), `presence {"room":"r","user":"bob","action":"join"}`)
	// A roster made again: a later epoch, whose versions start over.
	recv("alice", "join", 20, 1, false)
	recv("carol", "join", 20, 2, true) // restored: there before, not announced
	recv("bob", "join", 20, 3, true)   // already known present: nothing
	recv("bob", "leave", 10, 9, false) // from the lost epoch: stale
	wantGot(t, "new epoch", out.take(), `presence {"room":"r","user":"alice","action":"join"}`)
	recv("carol", "leave", 20, 4, false)
	wantGot(t, "restored then gone", out.take(), `presence {"room":"r","user":"carol","action":"leave"}`)
	for _, bad := range []string{`{`, `{"room":"other","user":"x","action":"join","e":30,"v":1}`,
		`{"room":"r","user":"x","action":"join","v":1}`, `{"room":"r","user":"x","action":"join","e":30,"v":0}`,
		`{"room":"r","user":"x","action":"wave","e":30,"v":1}`, `{"room":"r","count":-1,"e":30,"v":1}`, `null`, `[]`} {
		e.Receive("/", "r", EventPresence, []byte(bad))
		e.Receive("/", "r", EventCount, []byte(bad))
	}
	wantGot(t, "malformed", out.take())
}

// Counts are sent at most once per interval, the newest only, and never
// twice the same.
func TestCountsNewestOnly(t *testing.T) {
	e, out := newTestEvents(t, memory.New(), "h", func(string, string) bool { return false })
	count := func(n int, epoch, version int64) {
		e.Receive("/", "c", EventCount, fmt.Appendf(nil, `{"room":"c","count":%d,"e":%d,"v":%d}`, n, epoch, version))
	}
	count(3, 10, 5)
	count(2, 10, 4) // older
	deadline := time.Now().Add(5 * time.Second)
	for out.len() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	count(3, 10, 7) // same count, newer: nothing to send
	count(4, 10, 6) // older than the 3 at version 7
	time.Sleep(50 * time.Millisecond)
	wantGot(t, "counts", out.take(), `presence-count {"room":"c","count":3}`)
	count(5, 10, 8)
	for out.len() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	wantGot(t, "next", out.take(), `presence-count {"room":"c","count":5}`)
}

// Two instances on one roster whose statements never reach each other:
// the sweep repairs the views from the roster, announcing who joined and
// left after the view was made, and not those that were there before.
func TestSweepRepairsLostStatements(t *testing.T) {
	roster := memory.New()
	ctx := context.Background()
	var mu sync.Mutex
	local := map[string]bool{}
	isLocal := func(holder string) func(room, user string) bool {
		return func(room, user string) bool {
			mu.Lock()
			defer mu.Unlock()
			return local[holder+" "+user]
		}
	}
	set := func(holder, user string, on bool) {
		mu.Lock()
		local[holder+" "+user] = on
		mu.Unlock()
	}
	a, _ := newTestEvents(t, roster, "a", isLocal("a"))
	b, outB := newTestEvents(t, roster, "b", isLocal("b"))
	set("a", "early", true)
	if err := a.Sync(ctx, "/", "r", "early"); err != nil {
		t.Fatal(err)
	}
	set("b", "obs", true)
	if err := b.Sync(ctx, "/", "r", "obs"); err != nil {
		t.Fatal(err)
	}
	wantGot(t, "b's own join", outB.take(), `presence {"room":"r","user":"obs","action":"join"}`)
	set("a", "alice", true)
	if err := a.Sync(ctx, "/", "r", "alice"); err != nil {
		t.Fatal(err)
	}
	sweep := func() {
		t.Helper()
		if err := b.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sweep() // notes the roster's version
	wantGot(t, "first sweep", outB.take())
	sweep() // the versions it saw never arrived: repair
	wantGot(t, "repair", outB.take(), `presence {"room":"r","user":"alice","action":"join"}`)
	set("a", "alice", false)
	if err := a.Sync(ctx, "/", "r", "alice"); err != nil {
		t.Fatal(err)
	}
	sweep()
	sweep()
	wantGot(t, "repaired leave", outB.take(), `presence {"room":"r","user":"alice","action":"leave"}`)
	sweep()
	sweep()
	wantGot(t, "nothing more", outB.take())
}

// A hook that panics is logged, and the next calls still run, in order.
func TestHookPanicRecovered(t *testing.T) {
	var calls []string
	var mu sync.Mutex
	done := make(chan struct{})
	e := NewEvents(EventsConfig{
		Roster: memory.New(),
		Namespaces: map[string]Namespace{"/": {Mode: func(string) Mode { return ModeEvents }, Hook: func(c Change) {
			mu.Lock()
			calls = append(calls, fmt.Sprintf("%s %v %d", c.User, c.Joined, c.Count))
			mu.Unlock()
			if c.User == "boom" {
				panic("boom")
			}
			if c.User == "last" {
				close(done)
			}
		}}},
		Local:    func(ns, room, user string) bool { return true },
		Audience: func(ns, room string) bool { return true },
		Deliver:  func(string, string, *link.Message) {},
		Logger:   slog.New(slog.DiscardHandler),
	}, "h")
	defer e.Close(time.Second)
	for _, u := range []string{"a", "boom", "last"} {
		if err := e.Sync(context.Background(), "/", "r", u); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(calls, []string{"a true 1", "boom true 2", "last true 3"}) {
		t.Fatalf("hook calls %q", calls)
	}
}
