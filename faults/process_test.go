package faults_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// An instance killed with SIGKILL says no goodbye: the other instance's
// presence drops its users once their presence entry expires (within the
// TTL), and its clients, whose connections just drop, reconnect to the
// survivor and are served there.
func TestSIGKILLedInstance(t *testing.T) {
	const ttl = time.Second
	c := newCluster(t, procOpts{presenceTTL: ttl})
	stay := dial(t, c.b.url("stay"))
	loyal := dial(t, c.a.url("loyal")) // reconnects to b
	gone := dial(t, c.a.url("gone"))   // never comes back
	for _, cl := range []*realtimetest.Client{stay, loyal, gone} {
		testkit.RequestWithin(t, 20*time.Second, cl, "join", map[string]string{"room": "r"})
	}
	waitOnline(t, stay, "r", `["gone","loyal","stay"]`, 5*time.Second)
	testkit.RequestWithin(t, 20*time.Second, loyal, "say", map[string]any{"room": "r", "seq": 1})
	if _, err := stay.Wait(testkit.ContextWithin(t, 10*time.Second), "said"); err != nil {
		t.Fatalf("before the kill, a to b: %v", err)
	}

	if err := c.a.signal(syscall.SIGKILL, 10*time.Second); err == nil {
		t.Fatal("a exited cleanly after SIGKILL?")
	}
	killed := time.Now()
	// The clients of a lose their connection without a close frame.
	for _, cl := range []*realtimetest.Client{loyal, gone} {
		code, err := cl.WaitClosed(testkit.ContextWithin(t, 10*time.Second))
		if err != nil {
			t.Fatalf("a's client still connected after SIGKILL: %v", err)
		}
		if code != 0 && code != 1006 {
			t.Fatalf("a's client got close code %d from a killed process", code)
		}
	}
	// loyal fails over to the survivor, as a client behind a load
	// balancer does, and joins its room again.
	again := dial(t, c.b.url("loyal"))
	testkit.RequestWithin(t, 20*time.Second, again, "join", map[string]string{"room": "r"})
	failover := time.Since(killed)

	// b forgets a's users once a's presence expires.
	waitOnline(t, stay, "r", `["loyal","stay"]`, ttl+3*time.Second)
	dropped := time.Since(killed)
	t.Logf("after SIGKILL: client failed over in %v; a's users left b's presence after %v (TTL %v)",
		failover.Round(time.Millisecond), dropped.Round(time.Millisecond), ttl)
	if dropped > ttl+5*time.Second {
		t.Fatalf("a's users were listed for %v after the kill; the TTL is %v", dropped, ttl)
	}
	// The survivor serves the failed-over client.
	testkit.RequestWithin(t, 20*time.Second, stay, "say", map[string]any{"room": "r", "seq": 2, "text": "after"})
	m, err := again.Wait(testkit.ContextWithin(t, 10*time.Second), "said")
	if err != nil || decodeSaid(t, m).Seq != 2 {
		t.Fatalf("failed-over client: %s, %v", m.Raw, err)
	}
	if !c.b.alive() {
		t.Fatal("b died")
	}
}

// SIGTERM is graceful: the process shuts its mux down, so its clients get
// 1001 and its presence is cleared at once (long before the TTL would), and
// it exits 0.
func TestSIGTERMedInstance(t *testing.T) {
	const ttl = 30 * time.Second // so that expiry cannot be what clears it
	c := newCluster(t, procOpts{presenceTTL: ttl})
	stay := dial(t, c.b.url("stay"))
	var leaving []*realtimetest.Client
	for i := range 3 {
		leaving = append(leaving, dial(t, c.a.url(fmt.Sprintf("l%d", i))))
	}
	for _, cl := range append(leaving, stay) {
		testkit.RequestWithin(t, 20*time.Second, cl, "join", map[string]string{"room": "r"})
	}
	waitOnline(t, stay, "r", `["l0","l1","l2","stay"]`, 5*time.Second)
	// A burst queued for a's clients just before the signal is delivered
	// before their close.
	const burst = 200
	for i := range burst {
		if err := stay.Emit("say", map[string]any{"room": "r", "seq": i}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.RequestWithin(t, 20*time.Second, stay, "whoami", nil)
	for _, cl := range leaving {
		for range burst {
			if _, err := cl.Wait(testkit.ContextWithin(t, 10*time.Second), "said"); err != nil {
				t.Fatalf("before SIGTERM: %v", err)
			}
		}
	}

	start := time.Now()
	if err := c.a.signal(syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatalf("a after SIGTERM: %v\n%s", err, c.a.out.String())
	}
	exited := time.Since(start)
	if !strings.Contains(c.a.out.String(), "STOPPED") {
		t.Fatalf("a did not shut down through its mux:\n%s", c.a.out.String())
	}
	for i, cl := range leaving {
		code, err := cl.WaitClosed(testkit.ContextWithin(t, 5*time.Second))
		if err != nil || code != realtime.CloseGoingAway {
			t.Fatalf("client %d of a: close %d (%v), want 1001", i, code, err)
		}
	}
	took := waitOnline(t, stay, "r", `["stay"]`, time.Second)
	t.Logf("SIGTERM: a exited 0 after %v; b's presence without a's users %v after that (TTL %v)",
		exited.Round(time.Millisecond), took.Round(time.Millisecond), ttl)
}
