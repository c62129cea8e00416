// Package memory is a history.Log in the memory of one process: a ring of
// the last messages per room. It serves a single realtime instance, and
// instances side by side in one process when given their shared
// broadcast/memory broker (it then publishes each message's frame in the
// same step as the append). It is not for instances in different processes:
// use history/redis.
package memory

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/lolyjs/realtime/broadcast"
	"github.com/lolyjs/realtime/history"
)

// metaTTL is how long a room's markers (its last position, what was trimmed)
// outlive its last append, so that a client that comes back after the room
// expired is told its messages are gone rather than that there were none.
const metaTTL = 24 * time.Hour

var errClosed = errors.New("history/memory: log closed")

// Log is a history.Log in memory. Its zero value is not usable: use New.
type Log struct {
	broker broadcast.Broker
	now    func() time.Time

	mu     sync.Mutex
	closed bool
	spaces map[string]*space
}

type space struct {
	epoch string
	seq   uint64
	rooms map[string]*room
}

type room struct {
	entries []history.Entry // oldest first
	last    uint64          // seq of the last entry appended
	trim    uint64          // seq of the last entry trimmed
	expires time.Time       // entries expire then
	forget  time.Time       // the room's markers expire then
}

var _ history.Log = (*Log)(nil)

// New returns an empty log. broker, when not nil, is the broker that
// Append publishes frames on (a broadcast/memory broker shared by the
// instances of the process).
func New(broker broadcast.Broker) *Log {
	return &Log{broker: broker, now: time.Now, spaces: make(map[string]*space)}
}

func (l *Log) spaceLocked(ns string) *space {
	sp := l.spaces[ns]
	if sp == nil {
		sp = &space{epoch: history.NewEpoch(), rooms: make(map[string]*room)}
		l.spaces[ns] = sp
	}
	return sp
}

// roomLocked returns a room with its expired parts dropped, or nil.
func (sp *space) roomLocked(name string, now time.Time) *room {
	r := sp.rooms[name]
	if r == nil {
		return nil
	}
	if !now.Before(r.forget) {
		delete(sp.rooms, name)
		return nil
	}
	if len(r.entries) > 0 && !now.Before(r.expires) {
		r.entries = nil
	}
	return r
}

// Append adds a message and, with a topic, publishes its frame meanwhile.
func (l *Log) Append(ctx context.Context, ns, name string, payload []byte, keep history.Keep, topic string) (history.Position, uint64, error) {
	if err := ctx.Err(); err != nil {
		return history.Position{}, 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return history.Position{}, 0, errClosed
	}
	now := l.now()
	sp := l.spaceLocked(ns)
	r := sp.roomLocked(name, now)
	if r == nil {
		r = &room{}
		sp.rooms[name] = r
	}
	sp.seq++
	pos := history.Position{Epoch: sp.epoch, Seq: sp.seq}
	prev := r.last
	r.entries = append(r.entries, history.Entry{Seq: pos.Seq, Payload: append([]byte(nil), payload...)})
	if over := len(r.entries) - max(keep.Size, 1); over > 0 {
		r.trim = r.entries[over-1].Seq
		r.entries = append(r.entries[:0:0], r.entries[over:]...)
	}
	r.last = pos.Seq
	r.expires = now.Add(keep.TTL)
	r.forget = now.Add(max(keep.TTL, metaTTL))
	if topic != "" && l.broker != nil {
		// Under the lock, so that frames are published in seq order.
		if err := l.broker.Publish(ctx, topic, history.Frame(pos, prev, payload)); err != nil {
			return pos, prev, err
		}
	}
	return pos, prev, nil
}

// Last returns the namespace's current position.
func (l *Log) Last(ctx context.Context, ns string) (history.Position, error) {
	if err := ctx.Err(); err != nil {
		return history.Position{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return history.Position{}, errClosed
	}
	sp := l.spaceLocked(ns)
	return history.Position{Epoch: sp.epoch, Seq: sp.seq}, nil
}

// Read returns a room's entries after a position.
func (l *Log) Read(ctx context.Context, ns, name string, after history.Position, upto uint64) ([]history.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errClosed
	}
	sp := l.spaceLocked(ns)
	all := after == history.Position{}
	switch {
	case all:
	case after.Epoch != sp.epoch:
		return nil, history.ErrEpoch
	case after.Seq > sp.seq:
		return nil, history.ErrFuture
	}
	r := sp.roomLocked(name, l.now())
	if r == nil || r.last <= after.Seq {
		return nil, nil
	}
	if !all && (r.trim > after.Seq || len(r.entries) == 0) {
		return nil, history.ErrGone
	}
	var out []history.Entry
	for _, e := range r.entries {
		if e.Seq > after.Seq && (upto == 0 || e.Seq <= upto) {
			out = append(out, history.Entry{Seq: e.Seq, Payload: append([]byte(nil), e.Payload...)})
		}
	}
	return out, nil
}

// Close empties the log; its methods then fail.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errClosed
	}
	l.closed, l.spaces = true, nil
	return nil
}
