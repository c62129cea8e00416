package sendq

import (
	"sync/atomic"
	"testing"
)

// queue returns a queue whose Start counts writers started (the test plays
// the writer itself).
func queue(limit int) (*Queue, *atomic.Int32) {
	var starts atomic.Int32
	q := New(Config{Limit: limit, Start: func() { starts.Add(1) }})
	return q, &starts
}

func packet(n int) Packet { return Packet{Data: make([]byte, n)} }

// TryWrite gives the caller the writer's turn only when nothing is queued
// or being written, counts the packet's bytes until WriteDone, and queues
// what is pushed meanwhile for a writer started by WriteDone.
func TestTryWriteTakesTheTurnOnlyWhenIdle(t *testing.T) {
	q, starts := queue(1 << 20)
	p := packet(100)
	if !q.TryWrite(p) {
		t.Fatal("an idle queue refused the turn")
	}
	if got := q.Pending(); got != 100+Overhead {
		t.Fatalf("pending during the write = %d, want %d", got, 100+Overhead)
	}
	if q.TryWrite(p) {
		t.Fatal("a second caller got the turn while the first writes")
	}
	if !q.Push(packet(10)) || starts.Load() != 0 {
		t.Fatalf("a push during the write started a writer (%d) or was refused", starts.Load())
	}
	q.WriteDone(p)
	if starts.Load() != 1 {
		t.Fatalf("WriteDone left a pushed packet without a writer (%d starts)", starts.Load())
	}
	if q.TryWrite(p) {
		t.Fatal("the turn was given while a writer has packets to write")
	}
	batch, _ := q.Take()
	if len(batch) != 1 || len(batch[0].Data) != 10 {
		t.Fatalf("the writer took %v", batch)
	}
	q.Done(batch)
	if b, c := q.Take(); b != nil || c != nil {
		t.Fatal("queue not empty")
	}
	if !q.TryWrite(p) {
		t.Fatal("the turn was refused once the writer finished")
	}
	q.WriteDone(p)
	if starts.Load() != 1 || q.Pending() != 0 {
		t.Fatalf("an idle WriteDone started a writer (%d) or kept bytes (%d)", starts.Load(), q.Pending())
	}
}

// The bytes of a packet written by its caller count against the limit: a
// push that would pass the limit meanwhile aborts the queue.
func TestTryWriteCountsAgainstTheLimit(t *testing.T) {
	q, _ := queue(1000)
	overflowed := make(chan struct{})
	q.cfg.Overflow = func() { close(overflowed) }
	p := packet(900)
	if !q.TryWrite(p) {
		t.Fatal("turn refused")
	}
	if q.Push(packet(200)) {
		t.Fatal("a push past the limit was queued")
	}
	<-overflowed
	if c, ok := q.Closed(); !ok || c != SlowConsumer {
		t.Fatalf("closed %v %v, want the slow-consumer close", c, ok)
	}
	q.WriteDone(p)
	if _, c := q.Take(); c == nil || *c != SlowConsumer {
		t.Fatalf("the writer after the abort got close %v", c)
	}
}

// A closed, holding or stopped queue gives no turn; a close made during the
// caller's write is sent by the writer WriteDone starts.
func TestTryWriteAndClose(t *testing.T) {
	q, starts := queue(0)
	q.Hold()
	if q.TryWrite(packet(1)) {
		t.Fatal("turn given while holding")
	}
	q.Release()
	p := packet(1)
	if !q.TryWrite(p) {
		t.Fatal("turn refused")
	}
	if !q.CloseAfterDrain(Close{Code: 1000, Reason: "bye"}) || starts.Load() != 0 {
		t.Fatal("close during the write started a second writer")
	}
	q.WriteDone(p)
	if starts.Load() != 1 {
		t.Fatal("the close was left without a writer")
	}
	if _, c := q.Take(); c == nil || c.Code != 1000 {
		t.Fatalf("close %v", c)
	}
	if q.TryWrite(packet(1)) {
		t.Fatal("turn given on a closed queue")
	}

	q2, starts2 := queue(0)
	p = packet(1)
	if !q2.TryWrite(p) {
		t.Fatal("turn refused")
	}
	q2.Stop()
	q2.WriteDone(p)
	if q2.Push(packet(1)) || starts2.Load() != 0 {
		t.Fatal("a stopped queue took a push or started a writer")
	}
}
