package faults_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// presenceSeen takes a client's presence events until it has seen want,
// and returns all it took, as "room user action".
func presenceSeen(t *testing.T, cl *realtimetest.Client, seen []string, want string, within time.Duration) []string {
	t.Helper()
	ctx := testkit.ContextWithin(t, within)
	for !strings.Contains(strings.Join(seen, "|")+"|", want+"|") {
		m, err := cl.Wait(ctx, realtime.EventPresence)
		if err != nil {
			t.Fatalf("waiting for %q after %q: %v", want, seen, err)
		}
		var d struct{ Room, User, Action string }
		if err := m.Decode(&d); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, d.Room+" "+d.User+" "+d.Action)
	}
	return seen
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// An instance killed with SIGKILL says no goodbye: its users that have no
// socket elsewhere leave their rooms within the presence TTL, announced
// once to the members on each surviving instance, and the hook is called
// once for each, on one of the two survivors that reap the dead one; a
// user that also has a socket on a survivor stays.
func TestSIGKILLedInstancePresenceEvents(t *testing.T) {
	const ttl = time.Second
	c := newCluster(t, procOpts{presenceTTL: ttl, presence: true})
	third := start(t, "c", c.opts)
	obsB, obsC := dial(t, c.b.url("obsB")), dial(t, third.url("obsC"))
	testkit.RequestWithin(t, 20*time.Second, obsB, "join", map[string]string{"room": "r"})
	testkit.RequestWithin(t, 20*time.Second, obsC, "join", map[string]string{"room": "r"})
	var seenB, seenC []string
	seenB = presenceSeen(t, obsB, seenB, "r obsC join", 10*time.Second)
	for _, cl := range []*realtimetest.Client{dial(t, c.a.url("gone")), dial(t, c.a.url("gone")),
		dial(t, c.a.url("both")), dial(t, third.url("both"))} {
		testkit.RequestWithin(t, 20*time.Second, cl, "join", map[string]string{"room": "r"})
	}
	for _, want := range []string{"r gone join", "r both join"} {
		seenB = presenceSeen(t, obsB, seenB, want, 10*time.Second)
		seenC = presenceSeen(t, obsC, seenC, want, 10*time.Second)
	}

	if err := c.a.signal(syscall.SIGKILL, 10*time.Second); err == nil {
		t.Fatal("a exited cleanly after SIGKILL?")
	}
	killed := time.Now()
	seenB = presenceSeen(t, obsB, seenB, "r gone leave", ttl+5*time.Second)
	tookB := time.Since(killed)
	seenC = presenceSeen(t, obsC, seenC, "r gone leave", ttl+5*time.Second)
	tookC := time.Since(killed)
	t.Logf("after SIGKILL of a: its user left for the members on b after %v, on c after %v (PresenceTTL %v)",
		tookB.Round(time.Millisecond), tookC.Round(time.Millisecond), ttl)
	if max(tookB, tookC) > ttl+5*time.Second {
		t.Fatalf("a's user left %v after the kill; the TTL is %v", max(tookB, tookC), ttl)
	}

	// Sentinels from b and c: what either announced before has arrived.
	testkit.RequestWithin(t, 20*time.Second, dial(t, c.b.url("zB")), "join", map[string]string{"room": "r"})
	testkit.RequestWithin(t, 20*time.Second, dial(t, third.url("zC")), "join", map[string]string{"room": "r"})
	for _, want := range []string{"r zB join", "r zC join"} {
		seenB = presenceSeen(t, obsB, seenB, want, 10*time.Second)
		seenC = presenceSeen(t, obsC, seenC, want, 10*time.Second)
	}
	for name, seen := range map[string][]string{"b": seenB, "c": seenC} {
		if countOf(seen, "r gone leave") != 1 || countOf(seen, "r both leave") != 0 || countOf(seen, "r gone join") != 1 {
			t.Fatalf("the members on %s saw %q", name, seen)
		}
	}
	hooks := c.b.out.String() + third.out.String()
	if n := strings.Count(hooks, "HOOK r gone left"); n != 1 {
		t.Fatalf("the hook saw gone leave %d times on b and c:\n%s", n, hooks)
	}
	if strings.Contains(hooks, "HOOK r both left") {
		t.Fatalf("the hook saw both leave:\n%s", hooks)
	}
}
