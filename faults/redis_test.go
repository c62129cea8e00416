package faults_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// resumeBound is how soon after Redis is back cross-instance delivery must
// work again.
const resumeBound = 5 * time.Second

// tally follows the "said" events a client receives, by sequence number.
type tally struct {
	cl    *realtimetest.Client
	seen  map[int64]int
	first map[int64]time.Time
}

func newTally(cl *realtimetest.Client) *tally {
	return &tally{cl: cl, seen: map[int64]int{}, first: map[int64]time.Time{}}
}

// take moves what the client buffered into the tally.
func (ta *tally) take(t *testing.T) {
	now := time.Now()
	for _, m := range ta.cl.Events() {
		if m.Event != "said" {
			continue
		}
		s := decodeSaid(t, m)
		ta.seen[s.Seq]++
		if _, ok := ta.first[s.Seq]; !ok {
			ta.first[s.Seq] = now
		}
	}
}

func (ta *tally) duplicates() int {
	n := 0
	for _, c := range ta.seen {
		if c > 1 {
			n += c - 1
		}
	}
	return n
}

// Redis is killed and restarted (empty) while one instance's client sends a
// steady stream to a room with members on both instances. Nothing crashes;
// local delivery never stops; the senders are told when the other instance
// could not be reached; cross-instance delivery resumes within resumeBound
// of Redis coming back; presence is rebuilt; and neither process is left
// with more goroutines than before.
func TestRedisRestartUnderLoad(t *testing.T) {
	c := newCluster(t, procOpts{presenceTTL: 900 * time.Millisecond})
	sender := dial(t, c.a.url("sender"))
	local := dial(t, c.a.url("local"))
	remote := dial(t, c.b.url("remote"))
	for _, cl := range []*realtimetest.Client{sender, local, remote} {
		testkit.RequestWithin(t, 20*time.Second, cl, "join", map[string]string{"room": "r"})
	}
	waitOnline(t, remote, "r", `["local","remote","sender"]`, 5*time.Second)

	// Warm up, so that pools and subscriptions exist, then take the
	// goroutine baselines.
	for i := range 20 {
		testkit.RequestWithin(t, 20*time.Second, sender, "say", map[string]any{"room": "r", "seq": -1 - i})
	}
	time.Sleep(200 * time.Millisecond)
	baseA, baseB := c.a.debug(), c.b.debug()

	// The load: one "say" every 5 ms, without waiting for acks.
	var (
		seq      atomic.Int64
		sentAt   sync.Map // seq -> time.Time
		stopLoad = make(chan struct{})
		loadDone = make(chan struct{})
	)
	// Collect what the members receive as it arrives.
	lt, rt := newTally(local), newTally(remote)
	var tmu sync.Mutex
	stopCollect, collectDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(collectDone)
		for {
			tmu.Lock()
			lt.take(t)
			rt.take(t)
			tmu.Unlock()
			select {
			case <-stopCollect:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	go func() {
		defer close(loadDone)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopLoad:
				return
			case <-tick.C:
			}
			n := seq.Add(1)
			sentAt.Store(n, time.Now())
			if err := sender.Emit("say", map[string]any{"room": "r", "seq": n}); err != nil {
				return
			}
		}
	}()
	time.Sleep(time.Second)

	c.redis.Stop()
	down := seq.Load()
	time.Sleep(2 * time.Second)
	c.redis.Start()
	back := time.Now()
	backSeq := seq.Load()

	// Wait for a message sent after Redis came back to reach the other
	// instance.
	var resumed time.Duration
	for resumed == 0 {
		tmu.Lock()
		for s, at := range rt.first {
			if s > backSeq {
				if resumed == 0 || at.Sub(back) < resumed {
					resumed = at.Sub(back)
				}
			}
		}
		tmu.Unlock()
		if resumed == 0 {
			if time.Since(back) > 3*resumeBound {
				t.Fatalf("no message crossed instances within %v of Redis coming back", 3*resumeBound)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Keep the load on a little longer, then stop it and let everything
	// arrive.
	time.Sleep(time.Second)
	close(stopLoad)
	<-loadDone
	last := seq.Load()
	testkit.RequestWithin(t, 20*time.Second, sender, "whoami", nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		tmu.Lock()
		done := lt.seen[last] > 0 && rt.seen[last] > 0
		tmu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(stopCollect)
	<-collectDone

	if !c.a.alive() || !c.b.alive() {
		t.Fatalf("a process died: a %v, b %v", c.a.alive(), c.b.alive())
	}
	// Local delivery never stopped: every message, once; and how late.
	var worstLocal time.Duration
	for s, at := range lt.first {
		if v, ok := sentAt.Load(s); ok {
			worstLocal = max(worstLocal, at.Sub(v.(time.Time)))
		}
	}
	for s := int64(1); s <= last; s++ {
		if lt.seen[s] != 1 {
			t.Fatalf("local member got message %d %d times (of %d)", s, lt.seen[s], last)
		}
	}
	// Across instances: nothing twice; what was lost was sent while Redis
	// was down or reconnecting, never after delivery resumed.
	if d := rt.duplicates(); d != 0 {
		t.Fatalf("the remote member got %d duplicates", d)
	}
	var lost []int64
	firstAfter := int64(0)
	for s := int64(1); s <= last; s++ {
		if rt.seen[s] == 0 {
			lost = append(lost, s)
		} else if s > backSeq && firstAfter == 0 {
			firstAfter = s
		}
	}
	for _, s := range lost {
		if s <= down-5 || (firstAfter > 0 && s > firstAfter) {
			t.Fatalf("message %d was lost outside the outage (Redis stopped after %d, first delivered after the restart %d)", s, down, firstAfter)
		}
	}
	errs := 0
	for _, m := range sender.Events() {
		if m.Event == realtime.EventError {
			if e, _ := m.ErrorData(); e == nil || e.Code != realtime.CodeInternal {
				t.Fatalf("sender got %s", m.Raw)
			}
			errs++
		}
	}
	// Presence is rebuilt after Redis restarted empty.
	waitOnline(t, remote, "r", `["local","remote","sender"]`, 5*time.Second)

	// No goroutine growth: each process comes back to its baseline.
	var nowA, nowB debugInfo
	for end := time.Now().Add(10 * time.Second); ; {
		nowA, nowB = c.a.debug(), c.b.debug()
		if (nowA.Goroutines <= baseA.Goroutines+2 && nowB.Goroutines <= baseB.Goroutines+2) || time.Now().After(end) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d messages at 200/s; Redis down after #%d for 2s, back before #%d; cross-instance delivery resumed %v after Redis came back; "+
		"lost across instances: %d (all during the outage), locally: 0 (worst local delay %v); sender told of %d failed publishes; goroutines a %d->%d, b %d->%d",
		last, down, backSeq, resumed.Round(time.Millisecond), len(lost), worstLocal.Round(time.Millisecond), errs, baseA.Goroutines, nowA.Goroutines, baseB.Goroutines, nowB.Goroutines)
	if resumed > resumeBound {
		t.Fatalf("cross-instance delivery resumed %v after Redis came back; the bound is %v", resumed, resumeBound)
	}
	if nowA.Goroutines > baseA.Goroutines+2 || nowB.Goroutines > baseB.Goroutines+2 {
		t.Fatalf("goroutines grew: a %d -> %d, b %d -> %d", baseA.Goroutines, nowA.Goroutines, baseB.Goroutines, nowB.Goroutines)
	}
	if errs == 0 {
		t.Fatal("no sender was told that publishes failed during the outage")
	}
}

// With everything up, every message is delivered exactly once to every
// member socket, counted across both instances: 4 senders (2 per
// instance) send 250 messages each to a room of 10 sockets (5 per
// instance, the senders among them), concurrently.
func TestEveryMessageExactlyOnceAcrossInstances(t *testing.T) {
	const perInstance, senders, each = 5, 4, 250
	c := newCluster(t, procOpts{})
	var members []*realtimetest.Client
	var want []string
	for i := range perInstance {
		for _, p := range []*proc{c.a, c.b} {
			user := fmt.Sprintf("%s%d", p.name, i)
			cl := dial(t, p.url(user))
			testkit.RequestWithin(t, 20*time.Second, cl, "join", map[string]string{"room": "r"})
			members = append(members, cl)
			want = append(want, user)
		}
	}
	waitOnline(t, members[0], "r", jsonList(want), 5*time.Second)

	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := members[s] // alternately on a and b
			for i := range each {
				if _, err := cl.Request(testkit.ContextWithin(t, 20*time.Second), "say", map[string]any{"room": "r", "seq": s*each + i}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := senders * each
	receipts := 0
	for i, cl := range members {
		got := make(map[int64]bool, total)
		for len(got) < total {
			m, err := cl.Wait(testkit.ContextWithin(t, 20*time.Second), "said")
			if err != nil {
				t.Fatalf("member %d after %d of %d messages: %v", i, len(got), total, err)
			}
			s := decodeSaid(t, m)
			if got[s.Seq] {
				t.Fatalf("member %d got message %d twice", i, s.Seq)
			}
			got[s.Seq] = true
			receipts++
		}
	}
	time.Sleep(300 * time.Millisecond)
	for i, cl := range members {
		if n := cl.Count("said"); n != 0 {
			t.Fatalf("member %d got %d extra messages", i, n)
		}
	}
	t.Logf("%d messages x %d member sockets on 2 instances: %d receipts, each exactly once", total, len(members), receipts)
}

func jsonList(users []string) string {
	sorted := append([]string(nil), users...)
	for i := range sorted {
		for j := i + 1; j < len(sorted); j++ {
			if sorted[j] < sorted[i] {
				sorted[i], sorted[j] = sorted[j], sorted[i]
			}
		}
	}
	out := "["
	for i, u := range sorted {
		if i > 0 {
			out += ","
		}
		out += `"` + u + `"`
	}
	return out + "]"
}
