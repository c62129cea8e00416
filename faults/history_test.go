package faults_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// follower is a client of a room with history that, when its connection
// drops, reconnects to another instance with its session and the offset of
// the last message it got, and counts what it receives by sequence number.
type follower struct {
	mu        sync.Mutex
	cl        *realtimetest.Client
	seqs      []int64
	recovered []bool
}

func (f *follower) client() *realtimetest.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cl
}

// collect moves what the current client buffered into seqs.
func (f *follower) collect(t *testing.T) {
	cl := f.client()
	for _, m := range cl.Events() {
		if m.Event == "said" {
			s := decodeSaid(t, m)
			f.mu.Lock()
			f.seqs = append(f.seqs, s.Seq)
			f.mu.Unlock()
		}
	}
}

func (f *follower) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seqs)
}

// failover reconnects to url with the session and last offset.
func (f *follower) failover(t *testing.T, url string) {
	t.Helper()
	f.collect(t)
	old := f.client()
	cl, err := realtimetest.Dial(testkit.ContextWithin(t, 20*time.Second), url, &realtimetest.Options{Session: old.Session, Offset: old.LastOffset()})
	if err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	t.Cleanup(cl.Close)
	f.mu.Lock()
	f.cl = cl
	f.recovered = append(f.recovered, cl.Recovered)
	f.mu.Unlock()
}

// check reports what was lost, repeated or out of order among 0..total-1.
func (f *follower) check(total int) (lost, dup, disorder int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[int64]int{}
	last := int64(-1)
	for _, s := range f.seqs {
		seen[s]++
		if s <= last {
			disorder++
		}
		last = max(last, s)
	}
	for i := range int64(total) {
		switch n := seen[i]; {
		case n == 0:
			lost++
		case n > 1:
			dup += n - 1
		}
	}
	return lost, dup, disorder
}

// An instance is SIGKILLed while a thousand messages a second flow to a
// room with history; its client reconnects to the other instance with its
// session and offset and is recovered: it gets every message, once, in
// order.
func TestSIGKILLedInstanceWithHistory(t *testing.T) {
	c := newCluster(t, procOpts{history: 10000})
	f := &follower{cl: dial(t, c.a.url("member"))}
	testkit.RequestWithin(t, 20*time.Second, f.client(), "join", map[string]string{"room": "r"})
	sender := dial(t, c.b.url("sender"))

	const rate, total = 1000, 3000
	var sent atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for i := range total {
			<-tick.C
			if err := sender.Emit("say", map[string]any{"room": "r", "seq": i}); err != nil {
				return
			}
			sent.Add(1)
		}
	}()
	for sent.Load() < total/3 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.a.signal(syscall.SIGKILL, 10*time.Second); err == nil {
		t.Fatal("a exited cleanly after SIGKILL?")
	}
	killed := time.Now()
	if _, err := f.client().WaitClosed(testkit.ContextWithin(t, 10*time.Second)); err != nil {
		t.Fatalf("a's client still connected after SIGKILL: %v", err)
	}
	f.failover(t, c.b.url("member"))
	took := time.Since(killed)
	if !f.client().Recovered {
		t.Fatalf("not recovered on b: %q", f.client().RecoveryFailure)
	}
	<-done
	testkit.RequestWithin(t, 20*time.Second, sender, "whoami", nil)
	deadline := time.Now().Add(20 * time.Second)
	for f.collect(t); f.count() < total && time.Now().Before(deadline); f.collect(t) {
		time.Sleep(20 * time.Millisecond)
	}
	lost, dup, disorder := f.check(total)
	t.Logf("SIGKILL under %d msg/s: recovered on b %v after the kill; %d sent, lost %d, duplicated %d, out of order %d",
		rate, took.Round(time.Millisecond), total, lost, dup, disorder)
	if lost+dup+disorder != 0 {
		t.Fatalf("lost %d, duplicated %d, out of order %d", lost, dup, disorder)
	}
}

// Redis restarts under load. When it persists what it acknowledged, rooms
// with history lose nothing across instances: every emit that was
// acknowledged reaches the member on the other instance, once, in order, and
// the others were refused to their sender. When it restarts empty, history
// and sessions are gone: every client that reconnects is told it was not
// recovered.
func TestRedisRestartWithHistory(t *testing.T) {
	t.Run("persistent", func(t *testing.T) {
		c := newCluster(t, procOpts{history: 10000, persist: true})
		member := dial(t, c.b.url("member"))
		testkit.RequestWithin(t, 20*time.Second, member, "join", map[string]string{"room": "r"})
		sender := dial(t, c.a.url("sender"))
		var acked []int64
		refused := 0
		restarted := make(chan struct{})
		go func() {
			time.Sleep(300 * time.Millisecond)
			c.redis.Stop()
			// Longer than an append waits for Redis (2 s): some emits are
			// refused.
			time.Sleep(3 * time.Second)
			c.redis.Start()
			close(restarted)
		}()
		var seq int64
		for after := -1; after < 500; seq++ { // 500 more once Redis is back
			select {
			case <-restarted:
				if after < 0 {
					after = 0
				}
			default:
			}
			if after >= 0 {
				after++
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := sender.Request(ctx, "say", map[string]any{"room": "r", "seq": seq})
			cancel()
			if err != nil {
				refused++
			} else {
				acked = append(acked, seq)
			}
			time.Sleep(2 * time.Millisecond)
		}
		got := map[int64]int{}
		var order []int64
		deadline := time.Now().Add(20 * time.Second)
		for len(order) < len(acked) && time.Now().Before(deadline) {
			for _, m := range member.Events() {
				if m.Event == "said" {
					s := decodeSaid(t, m)
					got[s.Seq]++
					order = append(order, s.Seq)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		lost, dup, disorder := 0, 0, 0
		for _, s := range acked {
			if got[s] == 0 {
				lost++
			}
		}
		for s, n := range got {
			if n > 1 {
				dup += n - 1
			}
			_ = s
		}
		for i := 1; i < len(order); i++ {
			if order[i] <= order[i-1] {
				disorder++
			}
		}
		t.Logf("Redis restarted (persistent) under load: %d emits acknowledged, %d refused to the sender; "+
			"across instances lost %d, duplicated %d, out of order %d", len(acked), refused, lost, dup, disorder)
		if lost+dup+disorder != 0 {
			t.Fatalf("lost %d, duplicated %d, out of order %d", lost, dup, disorder)
		}
		if refused == 0 {
			t.Fatal("no emit was refused while Redis was down: the test missed the outage")
		}
	})
	t.Run("empty", func(t *testing.T) {
		c := newCluster(t, procOpts{history: 10000})
		var clients []*realtimetest.Client
		for i, p := range []*proc{c.a, c.b, c.a, c.b} {
			cl := dial(t, p.url(fmt.Sprint("u", i)))
			testkit.RequestWithin(t, 20*time.Second, cl, "join", map[string]string{"room": "r"})
			clients = append(clients, cl)
		}
		testkit.RequestWithin(t, 20*time.Second, clients[0], "say", map[string]any{"room": "r", "seq": 1})
		c.redis.Stop()
		c.redis.Start()
		told := 0
		for i, cl := range clients {
			cl.Close()
			p := []*proc{c.a, c.b}[i%2]
			var back *realtimetest.Client
			deadline := time.Now().Add(10 * time.Second)
			for {
				var err error
				back, err = realtimetest.Dial(testkit.ContextWithin(t, 5*time.Second), p.url(fmt.Sprint("u", i)),
					&realtimetest.Options{Session: cl.Session, Offset: cl.LastOffset()})
				if err == nil || time.Now().After(deadline) {
					if err != nil {
						t.Fatal(err)
					}
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Cleanup(back.Close)
			if back.Recovered {
				t.Fatalf("client %d told it was recovered after Redis restarted empty", i)
			}
			if back.RecoveryFailure != "" {
				told++
			}
		}
		if told != len(clients) {
			t.Fatalf("%d of %d clients told why they were not recovered", told, len(clients))
		}
	})
}
