package presence

import (
	"context"
	"fmt"
	"math"
	"runtime/debug"
	"sync"
	"time"

	"github.com/lolyjs/realtime/store"
)

// Sweep compares the view of each room that has sockets here with its
// roster, in one round trip, and repairs what statements were lost: a
// Redis outage loses the ones published meanwhile, and a Redis restarted
// empty loses the rosters, which the instances then fill again. It runs on
// the presence heartbeat, and reads a room's members only when its view
// is behind:
//
//   - versions of the roster that a sweep saw and that have not arrived
//     Settle later were lost on the way;
//   - a roster on another epoch than the view for Settle, or a view that
//     went on to a later epoch Settle ago, was lost and made again (the
//     instances re-add their users on their first heartbeat after Redis is
//     back, within Settle);
//   - a room with counts takes the roster's count when it is newer.
//
// A repair announces to the sockets here the difference between the view
// and the members, as of the roster's version: a user the view holds and
// the roster does not has left; a user the roster holds and the view does
// not has joined, unless it appeared before the view was made or was
// restored in a roster made again (it was there before, and never
// announced here).
func (e *Events) Sweep(ctx context.Context) error {
	now := time.Now()
	e.prune(now)
	e.mu.Lock()
	rooms := make([]*room, 0, len(e.rooms))
	keys := make([]string, 0, len(e.rooms))
	for _, r := range e.rooms {
		if r.idleSince.IsZero() {
			rooms = append(rooms, r)
			keys = append(keys, RosterKey(r.id.ns, r.id.room))
		}
	}
	e.mu.Unlock()
	if len(rooms) == 0 {
		return nil
	}
	states, err := e.cfg.Roster.RosterStates(ctx, keys...)
	if err != nil {
		return err
	}
	var repair []*room
	e.mu.Lock()
	for i, r := range rooms {
		if e.rooms[r.id] == r && e.behind(r, states[i], now) {
			repair = append(repair, r)
		}
	}
	e.mu.Unlock()
	for _, r := range repair {
		st, members, err := e.cfg.Roster.RosterMembers(ctx, RosterKey(r.id.ns, r.id.room))
		if err != nil {
			return err
		}
		e.mu.Lock()
		if e.rooms[r.id] == r {
			e.repair(r, st, members, time.Now())
		}
		e.mu.Unlock()
	}
	return nil
}

// behind compares a view with its roster's state and reports whether the
// view must be repaired from the members. e.mu is held.
func (e *Events) behind(r *room, st store.RosterState, now time.Time) bool {
	settled := func(since time.Time) bool { return !since.IsZero() && now.Sub(since) >= e.cfg.Settle }
	if st.Epoch == r.epoch {
		r.mismatchSince = time.Time{}
	} else if r.mismatchSince.IsZero() {
		r.mismatchSince = now
	}
	if r.mode == ModeCounts {
		switch {
		case r.count.Less(st.Epoch, st.Version):
			e.countState(r, st, false, now)
		case settled(r.mismatchSince):
			// The roster is gone, or older than the view: it was lost,
			// and nobody made it again.
			r.count = store.RosterState{Epoch: st.Epoch, Version: st.Version, Count: st.Count}
			r.epoch, r.mismatchSince = st.Epoch, time.Time{}
			e.countState(r, r.count, false, now)
		}
		return false
	}
	// Versions a sweep saw at least Settle ago that have not arrived were
	// lost on the way.
	lost := false
	if r.checkAt.IsZero() || settled(r.checkAt) {
		lost = !r.checkAt.IsZero() && r.check.Epoch == r.epoch && r.next <= r.check.Version
		r.check, r.checkAt = st, now
	}
	return lost || settled(r.mismatchSince) || (r.moved && settled(r.movedAt))
}

// repair brings a view to the roster's members as of st. e.mu is held.
func (e *Events) repair(r *room, st store.RosterState, members map[string]int64, now time.Time) {
	epoch, version := st.Epoch, st.Version
	if epoch == 0 {
		// No roster: nobody is present. As of the end of the view's epoch.
		epoch, version = r.epoch, math.MaxInt64
	}
	for user, u := range r.users {
		if _, ok := members[user]; u.present && !ok {
			e.statement(r, stmt{epoch, version, user, false, false}, false, now)
		}
	}
	for m, since := range members {
		if r.users[m] == nil && (since == 0 || (st.Epoch == r.baseEpoch && since <= r.base)) {
			r.users[m] = &userView{epoch: epoch, version: version, present: true, at: now}
			continue
		}
		e.statement(r, stmt{epoch, version, m, true, false}, false, now)
	}
	r.epoch, r.next, r.got = st.Epoch, st.Version+1, nil
	r.moved, r.mismatchSince, r.check, r.checkAt = false, time.Time{}, st, now
}

// prune drops the views of rooms that have had no socket here for Linger,
// and what they keep of users who left Linger ago.
func (e *Events) prune(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, r := range e.rooms {
		switch {
		case e.cfg.Audience(id.ns, id.room):
			r.idleSince = time.Time{}
		case r.idleSince.IsZero():
			r.idleSince = now
		case now.Sub(r.idleSince) >= e.cfg.Linger && !r.queued:
			delete(e.rooms, id)
			continue
		}
		for user, u := range r.users {
			if !u.present && now.Sub(u.at) >= e.cfg.Linger {
				delete(r.users, user)
			}
		}
	}
}

// hookQueue calls the namespaces' hooks one at a time, in order, on a
// goroutine of its own, so that a slow hook delays later hooks only.
type hookQueue struct {
	mu     sync.Mutex
	q      []hookCall
	wake   chan struct{}
	closed bool
	done   chan struct{}
	log    func(msg string, args ...any)
}

type hookCall struct {
	fn func(Change)
	c  Change
}

func (h *hookQueue) start(log func(string, ...any)) {
	h.wake, h.done, h.log = make(chan struct{}, 1), make(chan struct{}), log
	go h.run()
}

func (h *hookQueue) push(fn func(Change), c Change) {
	h.mu.Lock()
	if !h.closed {
		h.q = append(h.q, hookCall{fn, c})
	}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *hookQueue) run() {
	defer close(h.done)
	for {
		h.mu.Lock()
		q, closed := h.q, h.closed
		h.q = nil
		h.mu.Unlock()
		for _, c := range q {
			h.call(c)
		}
		if closed && len(q) == 0 {
			return
		}
		if len(q) == 0 {
			<-h.wake
		}
	}
}

func (h *hookQueue) call(c hookCall) {
	defer func() {
		if p := recover(); p != nil {
			h.log("realtime: panic in presence hook", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	c.fn(c.c)
}

// close lets the queued calls run, waiting for them up to grace.
func (h *hookQueue) close(grace time.Duration) {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	select {
	case <-h.done:
	case <-time.After(grace):
	}
}
