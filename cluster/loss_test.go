package cluster_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/internal/testkit"
)

// Outcomes of one cross-instance emit.
const (
	delivered  = "delivered"
	told       = "told"        // Emit returned an error (and nothing arrived)
	lostUntold = "lost untold" // Emit returned nil and nothing arrived
)

// emitRecord is what the sender knows of one emit.
type emitRecord struct {
	at  time.Time
	err error
}

// lossCount counts the outcomes of the emits of one phase.
type lossCount map[string]int

func (c lossCount) String() string {
	return fmt.Sprintf("%d delivered, %d told, %d lost untold", c[delivered], c[told], c[lostUntold])
}

// One instance emits at a steady rate (an emit every 2 ms, from the test,
// through Mux.In) to a room whose only member is on the other instance,
// while Redis goes away and comes back: killed for 3 s and restarted empty,
// or frozen (SIGSTOP: its connections stay open and nothing answers) for
// 3 s or 7 s, less or more than go-redis's read timeout (5 s), and resumed.
// Each emit is classified: delivered, told (Emit returned an error), or lost
// untold (Emit returned nil and nothing arrived). The test checks what
// RELIABILITY.md says:
//
//   - nothing is delivered twice, and nothing told is delivered;
//   - nothing is lost before the outage, nor after the first message
//     emitted once Redis is back arrives;
//   - a stall shorter than the read timeout loses nothing and tells
//     nothing: every message arrives, late;
//   - otherwise the sender is told while Redis is away: after the first
//     failed publish, every emit fails at once except one a second (the
//     probe that tries Redis again), lost untold if Redis is still away;
//
// and logs the counts by phase and the runs of each outcome, which
// RELIABILITY.md reports.
func TestLossDuringRedisOutage(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		outage time.Duration
	}{{"killed", 3 * time.Second}, {"frozen", 3 * time.Second}, {"frozen", 7 * time.Second}} {
		t.Run(fmt.Sprintf("%s-%v", tc.mode, tc.outage), func(t *testing.T) { measureLoss(t, tc.mode, tc.outage) })
	}
}

// readTimeout is go-redis's default ReadTimeout, which bounds a publish to a
// Redis that hangs.
const readTimeout = 5 * time.Second

func measureLoss(t *testing.T, mode string, outage time.Duration) {
	const every = 2 * time.Millisecond
	rs := redistest.StartServer(t)
	a, b := twoInstances(t, clusterOpts{url: rs.URL()})
	member := b.dial(t, "m")
	testkit.Request(t, member, "join", map[string]string{"room": "r"})
	target := a.srv.Mux.In("/chat").ToRoom("r")

	// Warm up: until a message crosses.
	for i := 0; member.Count("said") == 0; i++ {
		if i == 500 {
			t.Fatal("no message crossed instances before the outage")
		}
		_ = target.Emit("said", map[string]int64{"seq": 0})
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	member.Events()

	var (
		mu      sync.Mutex
		records []emitRecord // records[i] is message i+1
		stop    = make(chan struct{})
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			mu.Lock()
			seq := int64(len(records) + 1)
			at := time.Now()
			err := target.Emit("said", map[string]int64{"seq": seq})
			records = append(records, emitRecord{at: at, err: err})
			mu.Unlock()
		}
	}()
	emitted := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		return int64(len(records))
	}

	received := map[int64]int{} // by message number
	collect := func() {
		for _, m := range member.Events() {
			if m.Event != "said" {
				continue
			}
			var s struct{ Seq int64 }
			if err := m.Decode(&s); err != nil {
				t.Fatalf("said %s: %v", m.Raw, err)
			}
			received[s.Seq]++
		}
	}
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(30 * time.Second)
		for collect(); !cond(); collect() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// Steady state, then a sync point: everything up to synced arrived.
	time.Sleep(500 * time.Millisecond)
	synced := emitted()
	waitFor("before the outage", func() bool { return received[synced] > 0 })

	down := time.Now()
	if mode == "killed" {
		rs.Stop()
	} else {
		rs.Pause()
	}
	time.Sleep(outage)
	if mode == "killed" {
		rs.Start()
	} else {
		rs.Resume()
	}
	back := time.Now()
	backSeq := emitted() + 1 // the first message emitted with Redis back
	waitFor("delivery after the outage", func() bool {
		for s := range received {
			if s >= backSeq {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second)
	close(stop)
	<-done
	// Once the last emit that was not refused arrived, everything that will
	// arrive did: one publisher, one topic, in order.
	last := int64(len(records))
	for last > 0 && records[last-1].err != nil {
		last--
	}
	waitFor("the last message", func() bool { return received[last] > 0 })
	time.Sleep(100 * time.Millisecond)
	collect()

	outcome := func(seq int64) string {
		switch {
		case received[seq] > 0:
			return delivered
		case records[seq-1].err != nil:
			return told
		}
		return lostUntold
	}
	n := int64(len(records))
	resumed := int64(0) // the first message emitted with Redis back that arrived
	for seq := backSeq; seq <= n && resumed == 0; seq++ {
		if received[seq] > 0 {
			resumed = seq
		}
	}
	for seq := int64(1); seq <= n; seq++ {
		switch c := received[seq]; {
		case c > 1:
			t.Fatalf("message %d delivered %d times", seq, c)
		case c == 1 && records[seq-1].err != nil:
			t.Fatalf("message %d delivered though its Emit failed: %v", seq, records[seq-1].err)
		case seq <= synced && c == 0:
			t.Fatalf("message %d, emitted before the outage, is %s", seq, outcome(seq))
		}
	}
	// After delivery resumed, nothing is lost; emits made while the
	// publish that resumed it was in flight may still be told, and none
	// after.
	accepted := false
	for seq := resumed + 1; seq <= n; seq++ {
		switch o := outcome(seq); {
		case o == lostUntold, o == told && accepted:
			t.Fatalf("message %d, emitted after delivery resumed with %d, is %s (%v)", seq, resumed, o, records[seq-1].err)
		case o == delivered:
			accepted = true
		}
	}

	// Count by phase: while Redis was away, and from its return to the
	// first message that arrived.
	during, after := lossCount{}, lossCount{}
	firstTold := int64(0)
	for seq := synced + 1; seq < resumed; seq++ {
		o := outcome(seq)
		if records[seq-1].at.Before(back) {
			during[o]++
			if o == told && firstTold == 0 {
				firstTold = seq
			}
		} else {
			after[o]++
		}
	}
	// The runs of one outcome, with when they were emitted, from the
	// outage's start.
	var runs []string
	rel := func(seq int64) string { return records[seq-1].at.Sub(down).Round(time.Millisecond).String() }
	for seq := synced + 1; seq <= resumed; {
		o, from := outcome(seq), seq
		for seq <= resumed && outcome(seq) == o {
			seq++
		}
		runs = append(runs, fmt.Sprintf("%d %s (%s..%s)", seq-from, o, rel(from), rel(seq-1)))
	}
	t.Logf("Redis %s for %v, back at %v; an emit every %v, %d in all. While away: %s. From its return to the first message that arrived (emitted %v after it): %s. Runs, emitted at (from the outage's start): %s",
		mode, outage, back.Sub(down).Round(time.Millisecond), every, n, during, records[resumed-1].at.Sub(back).Round(time.Millisecond), after, strings.Join(runs, ", "))

	if mode == "frozen" && outage < readTimeout {
		// A short stall: every publish waited and succeeded.
		for seq := synced + 1; seq <= n; seq++ {
			if o := outcome(seq); o != delivered {
				t.Fatalf("a stall shorter than the read timeout: message %d is %s (%v)", seq, o, records[seq-1].err)
			}
		}
		return
	}
	// The sender is told while Redis is away, and after the first emit it
	// was told of, what is lost untold before Redis returns is the probes:
	// runs of one message.
	if firstTold == 0 {
		t.Fatal("no emit made while Redis was away was told")
	}
	for seq := firstTold; seq < backSeq; seq++ {
		if outcome(seq) == lostUntold && seq > firstTold && outcome(seq-1) == lostUntold {
			t.Fatalf("messages %d and %d, emitted after the sender was first told (%d) and before Redis returned, were both lost untold", seq-1, seq, firstTold)
		}
	}
}
