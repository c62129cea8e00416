// Package catchup delivers the messages of rooms with history in the order
// of their positions, without gaps or duplicates, whatever the broker lost:
// when a message does not follow the last one delivered for its room, or the
// broker reports a reconnection, deliveries pause while what was missed is
// read from the history; then it goes out first, followed by what waited,
// in order. It knows nothing of sockets: its owner delivers and reads.
package catchup

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/lolyjs/realtime/history"
	"github.com/lolyjs/realtime/internal/link"
)

// Item is a message of a room with history on its way to local sockets.
type Item struct {
	Room   string
	Pos    history.Position
	Prev   uint64 // the position of the room's previous message
	Except string // a socket to leave out
	Msg    *link.Message
}

// Router orders the messages of one namespace's rooms. Set its functions
// before the first Accept; they run under its lock and must not call it.
type Router struct {
	// Deliver hands a message to the local sockets of its room.
	Deliver func(Item)
	// Read returns a room's messages after a position, in order.
	Read func(ctx context.Context, room string, after history.Position) ([]Item, error)
	// Lost reports a room whose missed messages could not be read.
	Lost func(room string, err error)

	mu     sync.Mutex
	epoch  string
	last   map[string]uint64 // per room, the position last delivered
	paused bool
	again  bool // catch up once more when the current catch-up ends
	queue  []Item
}

// Accept delivers a message, or queues it while a catch-up runs, or starts
// one when the message does not follow the last of its room.
func (r *Router) Accept(it Item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.paused {
		r.queue = append(r.queue, it)
		return
	}
	r.deliverLocked(it)
}

func (r *Router) deliverLocked(it Item) {
	if it.Pos.Epoch != r.epoch {
		r.epoch = it.Pos.Epoch
		clear(r.last)
	}
	if r.last == nil {
		r.last = make(map[string]uint64)
	}
	last, known := r.last[it.Room]
	switch {
	case known && it.Pos.Seq <= last:
		return // delivered already
	case known && it.Prev != last:
		r.paused = true
		r.queue = append(r.queue, it)
		go r.catchUp()
		return
	}
	r.last[it.Room] = it.Pos.Seq
	r.Deliver(it)
}

// Resume catches every room up, after the broker reconnected.
func (r *Router) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.paused {
		r.again = true
		return
	}
	if len(r.last) == 0 {
		return
	}
	r.paused = true
	go r.catchUp()
}

// Forget drops a room the instance no longer hosts: its next message starts
// it again.
func (r *Router) Forget(room string) {
	r.mu.Lock()
	delete(r.last, room)
	r.mu.Unlock()
}

// catchUp reads what each room missed after the last position delivered,
// delivers it in order with what waited meanwhile, and resumes. A room
// whose missed messages cannot be read starts again from its next message.
func (r *Router) catchUp() {
	for {
		r.mu.Lock()
		epoch, rooms := r.epoch, make(map[string]uint64, len(r.last))
		for room, last := range r.last {
			rooms[room] = last
		}
		r.again = false
		r.mu.Unlock()
		var missed []Item
		var lost []string
		for room, last := range rooms {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			items, err := r.Read(ctx, room, history.Position{Epoch: epoch, Seq: last})
			cancel()
			if err != nil {
				r.Lost(room, err)
				lost = append(lost, room)
				continue
			}
			missed = append(missed, items...)
		}
		slices.SortFunc(missed, func(a, b Item) int { return compare(a.Pos.Seq, b.Pos.Seq) })
		r.mu.Lock()
		for _, room := range lost {
			delete(r.last, room)
		}
		for _, it := range missed {
			if last, known := r.last[it.Room]; known && it.Pos.Seq > last {
				r.last[it.Room] = it.Pos.Seq
				r.Deliver(it)
			}
		}
		if r.again {
			r.mu.Unlock()
			continue
		}
		queue := r.queue
		r.queue, r.paused = nil, false
		for i, it := range queue {
			if r.paused {
				r.queue = append(r.queue, queue[i:]...)
				break
			}
			r.deliverLocked(it)
		}
		r.mu.Unlock()
		return
	}
}

func compare(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
