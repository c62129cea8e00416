// Package rooms keeps the local membership of one namespace: its sockets,
// the rooms they are in, the sockets of each user, and how many sockets each
// user has in each room, so that presence changes only when a user's first
// socket joins or its last one leaves. It delivers to the members of a
// target and answers who is here. It knows nothing of sockets: each member
// carries a value of its owner's, which it hands back.
package rooms

import (
	"sort"
	"sync"

	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/presence"
)

// Kinds of target: a whole namespace, a room, a user's sockets, or one
// socket by id.
const (
	KindNamespace byte = 'n'
	KindRoom      byte = 'r'
	KindUser      byte = 'u'
	KindSocket    byte = 's'
)

// Member is one socket's side of the table. Its owner makes it once, in
// place, with Init, and keeps it for the socket's life.
type Member[M any] struct {
	value M
	id    string
	// listed is guarded by the table's lock: the member is in the table.
	listed bool

	// mu guards rooms; it is taken last, after any lock of the owner's.
	mu    sync.Mutex
	rooms map[string]struct{}
}

// Init sets the member's value and id.
func (e *Member[M]) Init(value M, id string) { e.value, e.id = value, id }

// Listed reports whether the member is in its table. It reads without the
// table's lock, for the member's own goroutine.
func (e *Member[M]) Listed() bool { return e.listed }

// Rooms returns the rooms the member is in, sorted.
func (e *Member[M]) Rooms() []string {
	e.mu.Lock()
	out := make([]string, 0, len(e.rooms))
	for r := range e.rooms {
		out = append(out, r)
	}
	e.mu.Unlock()
	sort.Strings(out)
	return out
}

// In reports whether the member is in the room.
func (e *Member[M]) In(room string) bool {
	e.mu.Lock()
	_, ok := e.rooms[room]
	e.mu.Unlock()
	return ok
}

// Table is the membership of one namespace. Its methods are safe for
// concurrent use.
type Table[M any] struct {
	deliver func(M, *link.Message)
	user    func(M) string

	mu      sync.RWMutex
	sockets map[string]*Member[M] // by id
	rooms   map[string]map[*Member[M]]struct{}
	users   map[string]map[*Member[M]]struct{}
	// roomUsers counts each user's sockets per room.
	roomUsers map[string]map[string]int
	// counts holds the last presence count sent to each room in counts
	// mode, for the sockets that join it.
	counts map[string]*link.Message
}

// New returns an empty table. deliver queues a message for a member: it is
// called with the table's lock held, so it must neither block nor call the
// table. user returns a member's user id, "" for an anonymous one.
func New[M any](deliver func(M, *link.Message), user func(M) string) *Table[M] {
	return &Table[M]{
		deliver:   deliver,
		user:      user,
		sockets:   make(map[string]*Member[M]),
		rooms:     make(map[string]map[*Member[M]]struct{}),
		users:     make(map[string]map[*Member[M]]struct{}),
		roomUsers: make(map[string]map[string]int),
	}
}

// Add lists a member, and reports whether it is the first socket here of
// its user (false for an anonymous one).
func (t *Table[M]) Add(e *Member[M]) (first bool) {
	uid := t.user(e.value)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sockets[e.id] = e
	if uid != "" {
		set := t.users[uid]
		if set == nil {
			set = make(map[*Member[M]]struct{})
			t.users[uid] = set
			first = true
		}
		set[e] = struct{}{}
	}
	e.listed = true
	return first
}

// countRoomUser adds delta to a user's socket count in a room and reports
// whether the user appeared (0 to 1) or disappeared (1 to 0). Call with
// t.mu held.
func (t *Table[M]) countRoomUser(room, uid string, delta int) bool {
	users := t.roomUsers[room]
	if users == nil {
		users = make(map[string]int)
		t.roomUsers[room] = users
	}
	n := users[uid] + delta
	if n <= 0 {
		delete(users, uid)
		if len(users) == 0 {
			delete(t.roomUsers, room)
		}
		return true
	}
	users[uid] = n
	return n == 1 && delta > 0
}

// Remove unlists a member and takes it out of its rooms and its user. It
// returns the rooms it left empty, and those its user left (its last
// socket there gone; "" last for the namespace); ok is false when the
// member was not listed.
func (t *Table[M]) Remove(e *Member[M]) (empty, gone []string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !e.listed {
		return nil, nil, false
	}
	e.listed = false
	delete(t.sockets, e.id)
	uid := t.user(e.value)
	e.mu.Lock()
	rooms := e.rooms
	e.rooms = nil
	e.mu.Unlock()
	for room := range rooms {
		if t.drop(e, room) {
			empty = append(empty, room)
		}
		if uid != "" && t.countRoomUser(room, uid, -1) {
			gone = append(gone, room)
		}
	}
	if uid != "" {
		if set := t.users[uid]; set != nil {
			delete(set, e)
			if len(set) == 0 {
				delete(t.users, uid)
				gone = append(gone, "")
			}
		}
	}
	return empty, gone, true
}

// drop takes a member out of a room's set and reports whether it left the
// room empty. Call with t.mu held.
func (t *Table[M]) drop(e *Member[M], room string) bool {
	set := t.rooms[room]
	if set == nil {
		return false
	}
	delete(set, e)
	if len(set) > 0 {
		return false
	}
	delete(t.rooms, room)
	delete(t.counts, room)
	return true
}

// Outcome is what Join did.
type Outcome uint8

// The outcomes of Join.
const (
	Joined   Outcome = iota
	Already          // the member was in the room
	Unlisted         // the member is not in the table
	Closing          // the member is closing: it joins nothing
	Full             // the member is in max rooms already
)

// Join puts a member in a room, unless it is closing or already in max
// rooms (max <= 0: no limit). A member that joins a room in counts mode is
// delivered the room's last count at once. appeared reports that the
// member's user has its first socket in the room.
func (t *Table[M]) Join(e *Member[M], room string, max int, closing bool) (out Outcome, appeared bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case !e.listed:
		return Unlisted, false
	case closing:
		return Closing, false
	}
	e.mu.Lock()
	if _, ok := e.rooms[room]; ok {
		e.mu.Unlock()
		return Already, false
	}
	if max > 0 && len(e.rooms) >= max {
		e.mu.Unlock()
		return Full, false
	}
	if e.rooms == nil {
		e.rooms = make(map[string]struct{})
	}
	e.rooms[room] = struct{}{}
	e.mu.Unlock()
	set := t.rooms[room]
	if set == nil {
		set = make(map[*Member[M]]struct{})
		t.rooms[room] = set
	}
	set[e] = struct{}{}
	if m := t.counts[room]; m != nil {
		t.deliver(e.value, m) // the room's count, before any later one
	}
	uid := t.user(e.value)
	return Joined, uid != "" && t.countRoomUser(room, uid, +1)
}

// Leave takes a member out of a room. It reports whether the member was in
// it, whether the room is left empty, and whether the member's user left
// it (its last socket there gone).
func (t *Table[M]) Leave(e *Member[M], room string) (ok, empty, gone bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e.mu.Lock()
	_, ok = e.rooms[room]
	delete(e.rooms, room)
	e.mu.Unlock()
	if !ok {
		return false, false, false
	}
	empty = t.drop(e, room)
	uid := t.user(e.value)
	gone = uid != "" && t.countRoomUser(room, uid, -1)
	return ok, empty, gone
}

// Vacant reports, after a join, whether the room is empty again and
// whether a user has no socket left in it: the member may have left
// meanwhile.
func (t *Table[M]) Vacant(room, user string) (empty, gone bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.rooms[room]) == 0, user != "" && t.roomUsers[room][user] == 0
}

// Each calls fn for the members of a target (for KindSocket, name is the
// socket's id), except the one with id except, with the table's lock held:
// fn must not call the table.
func (t *Table[M]) Each(kind byte, name, except string, fn func(M)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	t.each(kind, name, except, fn)
}

func (t *Table[M]) each(kind byte, name, except string, fn func(M)) {
	var set map[*Member[M]]struct{}
	switch kind {
	case KindNamespace:
		for id, e := range t.sockets {
			if id != except {
				fn(e.value)
			}
		}
		return
	case KindSocket:
		if e := t.sockets[name]; e != nil && name != except {
			fn(e.value)
		}
		return
	case KindRoom:
		set = t.rooms[name]
	case KindUser:
		set = t.users[name]
	}
	for e := range set {
		if e.id != except {
			fn(e.value)
		}
	}
}

// Deliver queues a message for the members of a target, except the one
// with id except.
func (t *Table[M]) Deliver(kind byte, name, except string, msg *link.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	t.each(kind, name, except, func(v M) { t.deliver(v, msg) })
}

// DeliverCount queues a room's presence count for its members, and keeps
// it for those that join later.
func (t *Table[M]) DeliverCount(room string, m *link.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	set := t.rooms[room]
	if len(set) == 0 {
		return
	}
	if t.counts == nil {
		t.counts = make(map[string]*link.Message)
	}
	t.counts[room] = m
	for e := range set {
		t.deliver(e.value, m)
	}
}

// Users returns the ids of the users with a socket in a target, sorted.
func (t *Table[M]) Users(kind byte, name string) []string {
	t.mu.RLock()
	seen := make(map[string]struct{})
	switch kind {
	case KindNamespace:
		for id := range t.users {
			seen[id] = struct{}{}
		}
	case KindRoom:
		for e := range t.rooms[name] {
			if uid := t.user(e.value); uid != "" {
				seen[uid] = struct{}{}
			}
		}
	case KindUser:
		if len(t.users[name]) > 0 {
			seen[name] = struct{}{}
		}
	}
	t.mu.RUnlock()
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Count returns how many members a target has.
func (t *Table[M]) Count(kind byte, name string) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	switch kind {
	case KindNamespace:
		return len(t.sockets)
	case KindRoom:
		return len(t.rooms[name])
	case KindUser:
		return len(t.users[name])
	}
	return 0
}

// Present reports whether a user has a socket here in the namespace (room
// "") or a room.
func (t *Table[M]) Present(room, user string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if room == "" {
		return len(t.users[user]) > 0
	}
	return t.roomUsers[room][user] > 0
}

// Snapshot appends the presence entries of the namespace ns and of its
// rooms.
func (t *Table[M]) Snapshot(ns string, out []presence.Entry) []presence.Entry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e := presence.Entry{NS: ns}
	for uid := range t.users {
		e.Users = append(e.Users, uid)
	}
	out = append(out, e)
	for room, users := range t.roomUsers {
		e := presence.Entry{NS: ns, Room: room}
		for uid := range users {
			e.Users = append(e.Users, uid)
		}
		out = append(out, e)
	}
	return out
}
