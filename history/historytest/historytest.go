// Package historytest is a conformance suite for history.Log
// implementations. An implementation's tests call Run with a constructor;
// each promise of the history.Log documentation is checked in its own
// subtest.
package historytest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lolyjs/realtime/history"
)

// Setup is what the suite tests: a fresh log, and how to see what it
// publishes.
type Setup struct {
	Log history.Log
	// Subscribe returns the payloads published on a broker topic from now
	// on, through the broker the log publishes on.
	Subscribe func(t *testing.T, topic string) <-chan []byte
}

// shortTTL is long enough for an append and a read to land before it
// expires on a loaded machine.
const shortTTL = 200 * time.Millisecond

var keep = history.Keep{Size: 100, TTL: time.Minute}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// Run runs the suite; open is called once per subtest and must return an
// empty log (or one whose namespaces no other subtest sees). Run closes the
// log when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) Setup) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s Setup)
	}{
		{"OneSequencePerNamespace", testOneSequence},
		{"PreviousInRoom", testPrevious},
		{"ReadAfter", testReadAfter},
		{"ReadUpTo", testReadUpTo},
		{"SizeTrims", testSizeTrims},
		{"TTLExpires", testTTLExpires},
		{"EpochAndFuture", testEpochAndFuture},
		{"LastBeforeFirstAppend", testLastBeforeFirst},
		{"ConcurrentAppends", testConcurrent},
		{"PublishesFramesInOrder", testPublishes},
		{"PayloadsAreCopied", testCopied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Log.Close() })
			tc.fn(t, s)
		})
	}
}

func mustAppend(t *testing.T, l history.Log, ns, room, payload string, k history.Keep) (history.Position, uint64) {
	t.Helper()
	pos, prev, err := l.Append(ctx(t), ns, room, []byte(payload), k, "")
	if err != nil {
		t.Fatalf("Append(%s, %s): %v", ns, room, err)
	}
	return pos, prev
}

func payloads(es []history.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e.Payload)
	}
	return out
}

func testOneSequence(t *testing.T, s Setup) {
	a1, _ := mustAppend(t, s.Log, "/a", "r1", "1", keep)
	a2, _ := mustAppend(t, s.Log, "/a", "r2", "2", keep)
	a3, _ := mustAppend(t, s.Log, "/a", "r1", "3", keep)
	b1, _ := mustAppend(t, s.Log, "/b", "r1", "x", keep)
	if a1.Seq+1 != a2.Seq || a2.Seq+1 != a3.Seq {
		t.Fatalf("positions %v %v %v: want one sequence for the rooms of a namespace", a1, a2, a3)
	}
	if a1.Epoch == "" || a1.Epoch != a2.Epoch || a2.Epoch != a3.Epoch {
		t.Fatalf("epochs %q %q %q", a1.Epoch, a2.Epoch, a3.Epoch)
	}
	if b1.Seq != 1 {
		t.Fatalf("first position of another namespace %v, want seq 1", b1)
	}
	if last, err := s.Log.Last(ctx(t), "/a"); err != nil || last != a3 {
		t.Fatalf("Last = %v, %v; want %v", last, err, a3)
	}
}

func testPrevious(t *testing.T, s Setup) {
	p1, prev1 := mustAppend(t, s.Log, "/a", "r1", "1", keep)
	mustAppend(t, s.Log, "/a", "r2", "2", keep)
	p3, prev3 := mustAppend(t, s.Log, "/a", "r1", "3", keep)
	if prev1 != 0 || prev3 != p1.Seq {
		t.Fatalf("prev %d and %d; want 0 and %d (the room's previous message)", prev1, prev3, p1.Seq)
	}
	_ = p3
}

func testReadAfter(t *testing.T, s Setup) {
	start, err := s.Log.Last(ctx(t), "/a")
	if err != nil {
		t.Fatal(err)
	}
	var ps []history.Position
	for i := range 5 {
		p, _ := mustAppend(t, s.Log, "/a", "r1", fmt.Sprint(i), keep)
		ps = append(ps, p)
		mustAppend(t, s.Log, "/a", "other", "o", keep)
	}
	all, err := s.Log.Read(ctx(t), "/a", "r1", start, 0)
	if err != nil || fmt.Sprint(payloads(all)) != "[0 1 2 3 4]" {
		t.Fatalf("Read from the start: %v, %v", payloads(all), err)
	}
	for i, e := range all {
		if e.Seq != ps[i].Seq {
			t.Fatalf("entry %d has seq %d, want %d", i, e.Seq, ps[i].Seq)
		}
	}
	rest, err := s.Log.Read(ctx(t), "/a", "r1", ps[2], 0)
	if err != nil || fmt.Sprint(payloads(rest)) != "[3 4]" {
		t.Fatalf("Read after the third: %v, %v", payloads(rest), err)
	}
	none, err := s.Log.Read(ctx(t), "/a", "r1", ps[4], 0)
	if err != nil || len(none) != 0 {
		t.Fatalf("Read after the last: %v, %v", payloads(none), err)
	}
	if es, err := s.Log.Read(ctx(t), "/a", "never", start, 0); err != nil || len(es) != 0 {
		t.Fatalf("Read of a room without messages: %v, %v", payloads(es), err)
	}
}

func testReadUpTo(t *testing.T, s Setup) {
	start, _ := s.Log.Last(ctx(t), "/a")
	var ps []history.Position
	for i := range 4 {
		p, _ := mustAppend(t, s.Log, "/a", "r1", fmt.Sprint(i), keep)
		ps = append(ps, p)
	}
	es, err := s.Log.Read(ctx(t), "/a", "r1", start, ps[1].Seq)
	if err != nil || fmt.Sprint(payloads(es)) != "[0 1]" {
		t.Fatalf("Read up to the second: %v, %v", payloads(es), err)
	}
}

func testSizeTrims(t *testing.T, s Setup) {
	small := history.Keep{Size: 3, TTL: time.Minute}
	start, _ := s.Log.Last(ctx(t), "/a")
	var ps []history.Position
	for i := range 5 {
		p, _ := mustAppend(t, s.Log, "/a", "r1", fmt.Sprint(i), small)
		ps = append(ps, p)
	}
	if _, err := s.Log.Read(ctx(t), "/a", "r1", start, 0); !errors.Is(err, history.ErrGone) {
		t.Fatalf("Read from before trimmed messages: %v, want ErrGone", err)
	}
	if _, err := s.Log.Read(ctx(t), "/a", "r1", ps[0], 0); !errors.Is(err, history.ErrGone) {
		t.Fatalf("Read after the first of 5 kept 3: %v, want ErrGone", err)
	}
	es, err := s.Log.Read(ctx(t), "/a", "r1", ps[1], 0)
	if err != nil || fmt.Sprint(payloads(es)) != "[2 3 4]" {
		t.Fatalf("Read of the kept three: %v, %v", payloads(es), err)
	}
	es, err = s.Log.Read(ctx(t), "/a", "r1", history.Position{}, 0)
	if err != nil || fmt.Sprint(payloads(es)) != "[2 3 4]" {
		t.Fatalf("Read of every entry kept: %v, %v", payloads(es), err)
	}
}

func testTTLExpires(t *testing.T, s Setup) {
	brief := history.Keep{Size: 10, TTL: shortTTL}
	start, _ := s.Log.Last(ctx(t), "/a")
	last, _ := mustAppend(t, s.Log, "/a", "r1", "soon gone", brief)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Log.Read(ctx(t), "/a", "r1", start, 0)
		if errors.Is(err, history.ErrGone) {
			break
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired room's messages are still read")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Nothing was missed by whoever saw the last message.
	if es, err := s.Log.Read(ctx(t), "/a", "r1", last, 0); err != nil || len(es) != 0 {
		t.Fatalf("Read after the last message of an expired room: %v, %v", payloads(es), err)
	}
}

func testEpochAndFuture(t *testing.T, s Setup) {
	p, _ := mustAppend(t, s.Log, "/a", "r1", "x", keep)
	if _, err := s.Log.Read(ctx(t), "/a", "r1", history.Position{Epoch: p.Epoch + "x", Seq: 0}, 0); !errors.Is(err, history.ErrEpoch) {
		t.Fatalf("Read with another epoch: %v, want ErrEpoch", err)
	}
	if _, err := s.Log.Read(ctx(t), "/a", "r1", history.Position{Epoch: p.Epoch, Seq: p.Seq + 5}, 0); !errors.Is(err, history.ErrFuture) {
		t.Fatalf("Read from the future: %v, want ErrFuture", err)
	}
}

func testLastBeforeFirst(t *testing.T, s Setup) {
	before, err := s.Log.Last(ctx(t), "/fresh")
	if err != nil || before.Seq != 0 || before.Epoch == "" {
		t.Fatalf("Last of an empty namespace: %v, %v", before, err)
	}
	p, _ := mustAppend(t, s.Log, "/fresh", "r1", "first", keep)
	if p.Epoch != before.Epoch {
		t.Fatalf("the first append changed the epoch: %q to %q", before.Epoch, p.Epoch)
	}
	es, err := s.Log.Read(ctx(t), "/fresh", "r1", before, 0)
	if err != nil || fmt.Sprint(payloads(es)) != "[first]" {
		t.Fatalf("Read from before the first message: %v, %v", payloads(es), err)
	}
}

func testConcurrent(t *testing.T, s Setup) {
	const writers, each = 8, 25
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p, _, err := s.Log.Append(context.Background(), "/a", fmt.Sprint("r", w%3), []byte(fmt.Sprint(w, i)), keep, "")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[p.Seq] {
					t.Errorf("seq %d given twice", p.Seq)
				}
				seen[p.Seq] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != writers*each {
		t.Fatalf("%d distinct positions for %d appends", len(seen), writers*each)
	}
}

func testPublishes(t *testing.T, s Setup) {
	if s.Subscribe == nil {
		t.Skip("the log publishes on no broker")
	}
	frames := s.Subscribe(t, "room:/a:r1")
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.Log.Append(context.Background(), "/a", "r1", []byte(fmt.Sprint(i)), keep, "room:/a:r1"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var last uint64
	for i := range n {
		select {
		case f := <-frames:
			pos, prev, payload, ok := history.ParseFrame(f)
			if !ok || len(payload) == 0 {
				t.Fatalf("frame %d %q does not parse", i, f)
			}
			if pos.Seq <= last || prev != last {
				t.Fatalf("frame %d: seq %d prev %d after seq %d: frames out of order", i, pos.Seq, prev, last)
			}
			last = pos.Seq
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d frames published", i, n)
		}
	}
}

func testCopied(t *testing.T, s Setup) {
	start, _ := s.Log.Last(ctx(t), "/a")
	b := []byte("original")
	if _, _, err := s.Log.Append(ctx(t), "/a", "r1", b, keep, ""); err != nil {
		t.Fatal(err)
	}
	copy(b, "CHANGED!")
	es, err := s.Log.Read(ctx(t), "/a", "r1", start, 0)
	if err != nil || len(es) != 1 || string(es[0].Payload) != "original" {
		t.Fatalf("Read: %v, %v", payloads(es), err)
	}
	es[0].Payload[0] = 'X'
	again, _ := s.Log.Read(ctx(t), "/a", "r1", start, 0)
	if string(again[0].Payload) != "original" {
		t.Fatalf("a read's payload is the log's own: %q", again[0].Payload)
	}
}
