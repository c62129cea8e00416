package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/wire"
	"github.com/lolyjs/realtime/store"
)

// Mode is what a room's members are told of its users.
type Mode uint8

// The modes of a room.
const (
	ModeOff    Mode = iota // nothing
	ModeEvents             // one event per user that joins or leaves
	ModeCounts             // the number of users, coalesced
)

// Names of the events members receive; the cluster messages that carry
// them between instances use the same names, with the roster's epoch and
// version added to the data.
const (
	EventPresence = wire.ReservedPrefix + "presence"
	EventCount    = wire.ReservedPrefix + "presence-count"
)

// Change is one user that joined or left a room, cluster-wide.
type Change struct {
	NS, Room, User string
	Joined         bool
	Count          int // users in the room after the change
}

// Namespace is the presence-events setting of one namespace.
type Namespace struct {
	Mode     func(room string) Mode // nil: every room off
	Hook     func(Change)           // nil: none
	Interval time.Duration          // counts are sent at most this often per room
}

// EventsConfig configures Events.
type EventsConfig struct {
	Roster     store.Roster
	Namespaces map[string]Namespace
	// Local reports whether the user has a socket in the room here.
	Local func(ns, room, user string) bool
	// Audience reports whether the room has a socket here.
	Audience func(ns, room string) bool
	// Deliver queues a message for the room's sockets here. A count
	// (EventCount) is also what a socket that joins the room later is sent
	// first, until the next count.
	Deliver func(ns, room string, m *link.Message)
	// Publish sends a message to the room's other instances; nil on a
	// single instance.
	Publish func(ns, room string, m *link.Message) error
	// Linger is how long the view of a user who left, and of a room with
	// no socket here, is kept, to recognise late cluster messages (zero on
	// a single instance, where nothing arrives late).
	Linger time.Duration
	// Settle is how long a sweep waits before it acts on what it found:
	// versions that have not arrived, or a roster made again (by then,
	// every instance has re-added its users). One presence heartbeat.
	Settle time.Duration
	Logger *slog.Logger
}

// Events announces, to the members of the rooms that have presence events,
// the users that join and leave, once per user cluster-wide, and calls the
// namespace's hook once per change, on the instance that made it.
//
// A room's users are a store.Roster at RosterKey, a member per user and a
// holder per instance process: an instance adds itself when a user gets
// its first socket in the room here and removes itself when the user loses
// the last one, and the roster tells which call made the user appear or
// disappear. That instance announces the change, as a statement: the user
// is present (or absent) as of the roster's (epoch, version). Every
// instance keeps a view of each room its sockets are in, the newest
// statement per user, and passes a statement on to its sockets only when
// it is newer than the view and changes it; so statements that cross on
// the way, or come twice, never reach a member out of order or twice.
// A sweep (Sweep, on the presence heartbeat) compares each view with its
// roster and repairs what statements a Redis outage lost.
type Events struct {
	cfg    EventsConfig
	holder string

	opMu sync.Mutex // orders Sync calls on a single instance

	mu    sync.Mutex
	rooms map[roomID]*room
	// Counts waiting to be flushed, and the loop that flushes them.
	due  []*room
	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	hooks hookQueue
}

type roomID struct{ ns, room string }

// room is this instance's view of one room.
type room struct {
	id   roomID
	mode Mode
	ns   *Namespace

	epoch int64 // the roster epoch the view follows
	// The view was made at (baseEpoch, base): users who appeared then or
	// before were there before it, and were never announced to it.
	baseEpoch, base int64
	// moved: the view went on to a later epoch (the roster was lost and
	// made again), at movedAt, and may hold users from the earlier one.
	moved   bool
	movedAt time.Time
	// Events: the newest statement per user, and which versions of the
	// epoch arrived (all below next, and those in got).
	users map[string]*userView
	next  int64
	got   map[int64]struct{}
	// What a sweep read at least Settle ago (at checkAt), and since when
	// the view has been on an epoch other than the roster's.
	check         store.RosterState
	checkAt       time.Time
	mismatchSince time.Time

	// Counts: the newest count known, the one the sockets here were last
	// sent, and whether this instance changed it since it last published.
	count             store.RosterState
	sentCount         int
	sent, own, queued bool
	lastFlush, dueAt  time.Time
	idleSince         time.Time
}

type userView struct {
	epoch, version int64
	present        bool
	at             time.Time
}

// RosterKey is the store key of a room's roster.
func RosterKey(ns, room string) string { return "presence:roster:" + ns + ":" + room }

// NewEvents returns the presence events of an instance whose roster holder
// is holder (unique to the process), and starts the goroutines that flush
// counts and call hooks; Close stops them.
func NewEvents(cfg EventsConfig, holder string) *Events {
	e := &Events{
		cfg: cfg, holder: holder,
		rooms: make(map[roomID]*room),
		wake:  make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if e.cfg.Logger == nil {
		e.cfg.Logger = slog.Default()
	}
	e.hooks.start(e.cfg.Logger.Error)
	go e.loop()
	return e
}

// Holder is the name this instance holds users by in rosters.
func (e *Events) Holder() string { return e.holder }

// ModeOf returns a room's mode: the one its view was made with, or the
// namespace's choice.
func (e *Events) ModeOf(ns, room string) Mode {
	e.mu.Lock()
	r := e.rooms[roomID{ns, room}]
	e.mu.Unlock()
	if r != nil {
		return r.mode
	}
	return e.choose(ns, room)
}

// choose asks the namespace's setting for a room's mode. A mode out of
// range is off, and so is a room whose choice panicked (logged): room
// names come from clients.
func (e *Events) choose(ns, room string) (m Mode) {
	n, ok := e.cfg.Namespaces[ns]
	if !ok || n.Mode == nil || room == "" {
		return ModeOff
	}
	defer func() {
		if p := recover(); p != nil {
			e.cfg.Logger.Error("realtime: panic in Presence.Rooms; the room has no presence events",
				"namespace", ns, "room", room, "panic", fmt.Sprint(p))
			m = ModeOff
		}
	}()
	if m := n.Mode(room); m <= ModeCounts {
		return m
	}
	return ModeOff
}

// Sync makes the roster of a room with presence events hold the user by
// this instance exactly when the user has a socket in the room here, and
// announces what that changed; it is how a single instance keeps its
// rooms (Presence.Sync does it in a cluster). Calls are ordered, and each
// applies the state of the moment it runs, so calls that overtake one
// another still leave the roster right.
func (e *Events) Sync(ctx context.Context, ns, room, user string) error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	if e.ModeOf(ns, room) == ModeOff {
		return nil
	}
	if e.cfg.Local(ns, room, user) {
		return e.Set(ctx, ns, room, []string{user}, nil)
	}
	return e.Set(ctx, ns, room, nil, []string{user})
}

// Set adds this instance as a holder of the present users, and removes it
// from the absent ones, in a room's roster, and announces what that
// changed (nothing in a room whose mode is off). The caller orders calls.
func (e *Events) Set(ctx context.Context, ns, room string, present, absent []string) error {
	return e.set(ctx, e.holder, ns, room, present, absent)
}

// Rebuild is Set for an instance that brings a room back after an outage.
// The users of joined joined here during the outage; the others of present
// were held before it: if the roster was lost meanwhile (Redis restarted
// empty) and is being made again, they are restored (store.Roster's
// RosterRestore), announced to no one and not given to the hook.
func (e *Events) Rebuild(ctx context.Context, ns, room string, present, absent []string, joined map[string]struct{}) error {
	var fresh, held []string
	for _, u := range present {
		if _, ok := joined[u]; ok {
			fresh = append(fresh, u)
		} else {
			held = append(held, u)
		}
	}
	if len(held) > 0 {
		st, err := e.cfg.Roster.RosterRestore(ctx, RosterKey(ns, room), e.holder, held...)
		if err != nil {
			return err
		}
		e.changed(roomID{ns, room}, e.ModeOf(ns, room), st, true, true)
	}
	return e.set(ctx, e.holder, ns, room, fresh, absent)
}

// Reap removes a holder that is gone (its process died) from the users of
// a room, announcing those it was the last holder of. Several instances may
// reap one holder at once: the roster tells each change to one of them.
func (e *Events) Reap(ctx context.Context, holder, ns, room string, users []string) error {
	return e.set(ctx, holder, ns, room, nil, users)
}

func (e *Events) set(ctx context.Context, holder, ns, room string, present, absent []string) error {
	key := RosterKey(ns, room)
	mode := e.ModeOf(ns, room)
	if len(present) > 0 {
		st, err := e.cfg.Roster.RosterAdd(ctx, key, holder, present...)
		if err != nil {
			return err
		}
		e.changed(roomID{ns, room}, mode, st, true, false)
	}
	if len(absent) > 0 {
		st, err := e.cfg.Roster.RosterRemove(ctx, key, holder, absent...)
		if err != nil {
			return err
		}
		e.changed(roomID{ns, room}, mode, st, false, false)
	}
	return nil
}

// changed announces the changes a roster call of this instance made: to
// the sockets here, to the other instances, and to the namespace's hook.
// Users restored in a roster that is being made again are not new: they
// are made known to the views that did not know them, not announced.
func (e *Events) changed(id roomID, mode Mode, st store.RosterState, present, restored bool) {
	if mode == ModeOff || st.Epoch == 0 {
		return
	}
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.room(id, mode, st.Epoch, st.Version-int64(len(st.Changes)), now)
	// A roster made again after it was lost: the view is on an earlier
	// epoch, or went on to this one and is not repaired yet.
	rebuilt := restored && (st.Epoch > r.epoch || (st.Epoch == r.epoch && r.moved))
	count := st.Count
	if present {
		count -= len(st.Changes)
	} else {
		count += len(st.Changes)
	}
	for _, c := range st.Changes {
		if present {
			count++
		} else {
			count--
		}
		if r.ns.Hook != nil && !rebuilt {
			e.hooks.push(r.ns.Hook, Change{NS: id.ns, Room: id.room, User: c.Member, Joined: present, Count: count})
		}
		if r.mode == ModeEvents {
			e.statement(r, stmt{st.Epoch, c.Version, c.Member, present, rebuilt}, true, now)
		}
	}
	if r.mode == ModeCounts {
		e.countState(r, st, len(st.Changes) > 0, now)
	}
}

// room returns the view of a room, making it, from a first statement of
// (epoch, version), when there is none. e.mu is held.
func (e *Events) room(id roomID, mode Mode, epoch, before int64, now time.Time) *room {
	r := e.rooms[id]
	if r != nil {
		return r
	}
	ns := e.cfg.Namespaces[id.ns]
	r = &room{id: id, mode: mode, ns: &ns, epoch: epoch, baseEpoch: epoch, base: before, next: before + 1,
		users: make(map[string]*userView)}
	e.rooms[id] = r
	return r
}

// stmt is a statement: the user is present (or absent) as of the roster's
// (epoch, version). A rebuilt one comes from a roster made again after it
// was lost, for a user that was there before: a view that does not know
// the user takes it in without announcing it.
type stmt struct {
	epoch, version   int64
	user             string
	present, rebuilt bool
}

// statement applies a statement to a room's view, and passes it on to the
// sockets here when it changes the view; an own statement also goes to the
// other instances. e.mu is held.
func (e *Events) statement(r *room, s stmt, own bool, now time.Time) {
	e.note(r, s.epoch, s.version)
	if own && e.cfg.Publish != nil {
		e.publish(r, presenceData(r.id.room, s, true))
	}
	u := r.users[s.user]
	if u != nil && !(u.epoch < s.epoch || (u.epoch == s.epoch && u.version < s.version)) {
		return // not newer than what the view holds
	}
	// A user the view does not know is announced, unless the statement
	// comes from before the view was made: a member hears of the users who
	// join after it, not of those it finds there.
	// A leave of a user the view does not know is not announced either:
	// a member hears of a user's leave only after its join.
	before := s.rebuilt || (s.epoch == r.baseEpoch && s.version <= r.base)
	changes := (u == nil && s.present && !before) || (u != nil && u.present != s.present)
	if u == nil {
		u = &userView{}
		r.users[s.user] = u
	}
	*u = userView{epoch: s.epoch, version: s.version, present: s.present, at: now}
	if !s.present && e.cfg.Linger == 0 {
		delete(r.users, s.user)
	}
	if changes {
		e.cfg.Deliver(r.id.ns, r.id.room, link.NewMessage(EventPresence, presenceData(r.id.room, s, false)))
	}
}

// note records that a version of an epoch arrived. A later epoch (the
// roster was lost and made again) starts over from version 1.
func (e *Events) note(r *room, epoch, version int64) {
	if epoch != r.epoch {
		if epoch < r.epoch {
			return
		}
		if r.epoch != 0 {
			r.moved, r.movedAt = true, time.Now()
		}
		r.epoch, r.next, r.got = epoch, 1, nil
	}
	if version < r.next {
		return
	}
	if version > r.next {
		if r.got == nil {
			r.got = make(map[int64]struct{})
		}
		r.got[version] = struct{}{}
		return
	}
	r.next++
	for {
		if _, ok := r.got[r.next]; !ok {
			break
		}
		delete(r.got, r.next)
		r.next++
	}
}

// countState applies a count as of a roster state; the flush loop sends it
// on. e.mu is held.
func (e *Events) countState(r *room, st store.RosterState, own bool, now time.Time) {
	if r.count.Less(st.Epoch, st.Version) {
		r.count = store.RosterState{Epoch: st.Epoch, Version: st.Version, Count: st.Count}
		r.epoch = st.Epoch
		r.own = r.own || own
	}
	if (r.sent && r.sentCount == r.count.Count && !r.own) || r.queued {
		return
	}
	r.queued = true
	r.dueAt = r.lastFlush.Add(r.ns.interval())
	if r.dueAt.Before(now) {
		r.dueAt = now
	}
	e.due = append(e.due, r)
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (n *Namespace) interval() time.Duration {
	if n.Interval > 0 {
		return n.Interval
	}
	return time.Second
}

// loop flushes counts when they are due, and drops views nobody needs.
func (e *Events) loop() {
	defer close(e.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	prune := time.NewTicker(30 * time.Second)
	defer prune.Stop()
	for {
		e.mu.Lock()
		next := time.Now().Add(time.Hour)
		for _, r := range e.due {
			if r.dueAt.Before(next) {
				next = r.dueAt
			}
		}
		e.mu.Unlock()
		timer.Reset(time.Until(next))
		select {
		case <-e.stop:
			return
		case <-e.wake:
		case <-prune.C:
			if e.cfg.Publish == nil {
				e.prune(time.Now())
			}
		case <-timer.C:
			e.flush(time.Now())
		}
	}
}

// flush sends each due count to the sockets here when it changed, and to
// the other instances when this instance changed it.
func (e *Events) flush(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rest := e.due[:0]
	for _, r := range e.due {
		if r.dueAt.After(now) {
			rest = append(rest, r)
			continue
		}
		r.queued, r.lastFlush = false, now
		c := r.count
		if r.own && e.cfg.Publish != nil {
			e.publish(r, countData(r.id.room, c, true))
		}
		r.own = false
		if !r.sent || r.sentCount != c.Count {
			r.sent, r.sentCount = true, c.Count
			e.cfg.Deliver(r.id.ns, r.id.room, link.NewMessage(EventCount, countData(r.id.room, c, false)))
		}
	}
	clear(e.due[len(rest):])
	e.due = rest
}

func (e *Events) publish(r *room, data []byte) {
	event := EventPresence
	if r.mode == ModeCounts {
		event = EventCount
	}
	if err := e.cfg.Publish(r.id.ns, r.id.room, link.NewMessage(event, data)); err != nil {
		e.cfg.Logger.Debug("realtime: presence statement not published; the other instances' sweep repairs it",
			"namespace", r.id.ns, "room", r.id.room, "error", err)
	}
}

// wireStatement is a statement as it travels between instances.
type wireStatement struct {
	Room   string `json:"room"`
	User   string `json:"user,omitempty"`
	Action string `json:"action,omitempty"`
	Count  *int   `json:"count,omitempty"`
	Epoch  int64  `json:"e,omitempty"`
	Ver    int64  `json:"v,omitempty"`
	Again  bool   `json:"r,omitempty"`
}

func presenceData(room string, s stmt, cluster bool) []byte {
	b := append([]byte(`{"room":`), wire.AppendString(nil, room)...)
	b = append(append(b, `,"user":`...), wire.AppendString(nil, s.user)...)
	if s.present {
		b = append(b, `,"action":"join"`...)
	} else {
		b = append(b, `,"action":"leave"`...)
	}
	if cluster {
		b = appendVersion(b, s.epoch, s.version)
		if s.rebuilt {
			b = append(b, `,"r":true`...)
		}
	}
	return append(b, '}')
}

func countData(room string, st store.RosterState, cluster bool) []byte {
	b := append([]byte(`{"room":`), wire.AppendString(nil, room)...)
	b = append(b, `,"count":`...)
	b = appendInt(b, int64(st.Count))
	if cluster {
		b = appendVersion(b, st.Epoch, st.Version)
	}
	return append(b, '}')
}

func appendVersion(b []byte, epoch, version int64) []byte {
	b = appendInt(append(b, `,"e":`...), epoch)
	return appendInt(append(b, `,"v":`...), version)
}

func appendInt(b []byte, n int64) []byte {
	out, _ := json.Marshal(n)
	return append(b, out...)
}

// Receive applies a statement another instance published to a room's
// topic. Anything malformed is dropped.
func (e *Events) Receive(ns, room, event string, data []byte) {
	var s wireStatement
	if json.Unmarshal(data, &s) != nil || s.Room != room || s.Epoch <= 0 || s.Ver < 0 {
		return
	}
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case event == EventPresence && (s.Action == "join" || s.Action == "leave") && s.Ver > 0:
		r := e.room(roomID{ns, room}, ModeEvents, s.Epoch, s.Ver-1, now)
		if r.mode == ModeEvents {
			e.statement(r, stmt{s.Epoch, s.Ver, s.User, s.Action == "join", s.Again && s.Action == "join"}, false, now)
		}
	case event == EventCount && s.Count != nil && *s.Count >= 0:
		r := e.room(roomID{ns, room}, ModeCounts, s.Epoch, s.Ver, now)
		if r.mode == ModeCounts {
			e.countState(r, store.RosterState{Epoch: s.Epoch, Version: s.Ver, Count: *s.Count}, false, now)
		}
	}
}

// Close stops the flush loop and the hook calls, after the hooks already
// queued (for up to grace).
func (e *Events) Close(grace time.Duration) {
	close(e.stop)
	<-e.done
	e.hooks.close(grace)
}
