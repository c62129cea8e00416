// Package sendq is the outgoing queue of one client connection, whatever
// its transport: bounded by the bytes not yet written, drained by one writer
// at a time, closed after what it holds is written, and aborted at once when
// the client does not keep up.
//
// A push never runs the code that evicts a client: the queue aborts itself
// and calls Overflow on a goroutine of its own, so that a push made while
// the caller holds its own locks (a room delivery, say) can never re-enter
// them.
package sendq

import "sync"

// Overhead is what one queued packet costs beyond its bytes (slice headers
// and bookkeeping), counted against the limit so that a flood of tiny
// packets is bounded too.
const Overhead = 48

// SlowConsumer is the close a queue aborted by an overflow leaves for its
// writer: WebSocket close code 1013, "try again later".
var SlowConsumer = Close{Code: 1013, Reason: "slow consumer"}

// Packet is one unit the transport writes: an encoded frame or message.
type Packet struct {
	Data []byte
	// Binary marks a packet for a binary frame (or its transport's binary
	// form); the queue itself does not look at it.
	Binary bool
}

func (p Packet) cost() int { return len(p.Data) + Overhead }

// Close is the close a drained queue leaves for its writer to send.
type Close struct {
	Code   uint16
	Reason string
	// Abrupt says the client is presumed gone (it went silent): the
	// transport sends the close without waiting for an answer.
	Abrupt bool
}

// Config configures a Queue.
type Config struct {
	// Limit is how many bytes may wait, queued or taken by the writer and
	// not yet written (zero or less: no limit). A single packet larger than
	// the limit is still taken when nothing else is pending, so that one big
	// message reaches a client that reads.
	Limit int
	// Start starts a writer, which calls Take until it returns no batch.
	// It runs on the pushing goroutine, possibly under the pusher's locks,
	// and must not block.
	Start func()
	// Overflow runs, on a goroutine of its own, once a push found the queue
	// full: the queue is aborted by then (emptied, closed to pushes, with
	// SlowConsumer as its close). It evicts the client.
	Overflow func()
}

// Queue is a byte-bounded queue of packets. It is safe for concurrent use.
type Queue struct {
	cfg Config

	mu      sync.Mutex
	items   []Packet
	spare   []Packet
	bytes   int // queued, plus taken by the writer and not yet done
	writing bool
	holding bool
	closing bool
	aborted bool
	close   *Close // the close the writer has yet to send
	closed  Close  // the close that closed the queue, kept
}

// New returns an empty queue.
func New(cfg Config) *Queue {
	return &Queue{cfg: cfg}
}

// Push queues a packet. It reports false when the packet was not queued:
// the queue is closing, or the packet overflowed it (which aborts it).
func (q *Queue) Push(p Packet) bool {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return false
	}
	cost := p.cost()
	if q.cfg.Limit > 0 && q.bytes > 0 && q.bytes+cost > q.cfg.Limit {
		start := q.abortLocked(SlowConsumer)
		q.mu.Unlock()
		if start {
			q.cfg.Start()
		}
		if q.cfg.Overflow != nil {
			go q.cfg.Overflow()
		}
		return false
	}
	q.items = append(q.items, p)
	q.bytes += cost
	start := !q.writing && !q.holding
	if start {
		q.writing = true
	}
	q.mu.Unlock()
	if start {
		q.cfg.Start()
	}
	return true
}

// TryWrite claims the writer's turn for one packet that the caller writes
// itself, on its own goroutine: it reports true when the queue is open, not
// holding, and has nothing queued or being written. The packet's bytes
// count against the limit until WriteDone, which the caller must then call;
// pushes meanwhile queue behind it. On false, nothing changed: push the
// packet instead.
func (q *Queue) TryWrite(p Packet) bool {
	q.mu.Lock()
	if q.closing || q.holding || q.writing || len(q.items) > 0 {
		q.mu.Unlock()
		return false
	}
	q.writing = true
	q.bytes += p.cost()
	q.mu.Unlock()
	return true
}

// WriteDone ends the turn TryWrite claimed, once the packet is written (or
// its write failed). What was pushed meanwhile, or a close, goes to a
// writer started now.
func (q *Queue) WriteDone(p Packet) {
	q.mu.Lock()
	q.bytes = max(q.bytes-p.cost(), 0)
	start := (len(q.items) > 0 && !q.holding) || q.close != nil
	if !start && !q.closing {
		q.writing = false // (a stopped queue keeps its writer turn taken)
	}
	q.mu.Unlock()
	if start {
		q.cfg.Start()
	}
}

// Hold keeps what is pushed from the writer until Release or Discard.
func (q *Queue) Hold() {
	q.mu.Lock()
	q.holding = true
	q.mu.Unlock()
}

// Release lets the writer have what was held.
func (q *Queue) Release() {
	q.mu.Lock()
	q.holding = false
	start := len(q.items) > 0 && !q.writing
	if start {
		q.writing = true
	}
	q.mu.Unlock()
	if start {
		q.cfg.Start()
	}
}

// Discard drops what is queued and ends holding.
func (q *Queue) Discard() {
	q.mu.Lock()
	q.dropLocked()
	q.holding = false
	q.mu.Unlock()
}

// Take hands the writer everything queued, in order. When nothing is
// queued, it ends the writer's turn (the next push starts a writer) and
// returns the close to send, if the queue is closing and the close was not
// taken yet. The writer passes each batch to Done once it is written.
func (q *Queue) Take() ([]Packet, *Close) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 || q.holding {
		q.writing = false
		c := q.close
		q.close = nil
		return nil, c
	}
	batch := q.items
	q.items = q.spare[:0]
	q.spare = nil
	return batch, nil
}

// Done releases a batch returned by Take once it is written (or its write
// failed): its bytes no longer count, and its slice is reused.
func (q *Queue) Done(batch []Packet) {
	n := 0
	for i := range batch {
		n += batch[i].cost()
		batch[i] = Packet{}
	}
	q.mu.Lock()
	q.bytes = max(q.bytes-n, 0)
	if q.spare == nil {
		q.spare = batch[:0]
	}
	q.mu.Unlock()
}

// CloseAfterDrain closes the queue to pushes: the writer sends what is
// queued (held packets included), then the close. It reports false when the
// queue was closing already.
func (q *Queue) CloseAfterDrain(c Close) bool {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return false
	}
	q.closing, q.holding = true, false
	q.close, q.closed = &c, c
	start := !q.writing
	q.writing = true
	q.mu.Unlock()
	if start {
		q.cfg.Start()
	}
	return true
}

// Abort empties the queue and closes it: the writer sends only the close.
// It reports false when the queue was closing already.
func (q *Queue) Abort(c Close) bool {
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return false
	}
	start := q.abortLocked(c)
	q.mu.Unlock()
	if start {
		q.cfg.Start()
	}
	return true
}

// abortLocked empties and closes the queue, and reports whether a writer
// must be started to send the close.
func (q *Queue) abortLocked(c Close) bool {
	q.dropLocked()
	q.closing, q.holding, q.aborted = true, false, true
	q.close, q.closed = &c, c
	start := !q.writing
	q.writing = true
	return start
}

func (q *Queue) dropLocked() {
	for i := range q.items {
		q.bytes -= q.items[i].cost()
		q.items[i] = Packet{}
	}
	q.items = q.items[:0]
	q.bytes = max(q.bytes, 0)
}

// Stop closes the queue for good when its connection is gone: what is
// queued is dropped, and no writer is started, not even for a close.
func (q *Queue) Stop() {
	q.mu.Lock()
	q.dropLocked()
	q.closing, q.holding, q.writing = true, false, true
	q.close = nil
	q.mu.Unlock()
}

// Closing reports whether the queue was closed to pushes.
func (q *Queue) Closing() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closing
}

// Aborted reports whether the queue was aborted (by Abort or an overflow):
// a writer in the middle of a batch may skip the rest of it and send the
// close.
func (q *Queue) Aborted() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.aborted
}

// Closed returns the close that closed the queue (by CloseAfterDrain, Abort
// or an overflow) and true, or false while it is open or was only stopped.
func (q *Queue) Closed() (Close, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed, q.closed.Code != 0
}

// Pending returns the bytes counted against the limit: queued packets and
// those a writer took and has not released.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}
