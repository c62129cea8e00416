package realtime

import (
	"sort"
	"sync"

	"github.com/lolyjs/realtime/internal/catchup"
	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/presence"
	"github.com/lolyjs/realtime/internal/wire"
)

// endpointKind tells what an endpoint is run for.
type endpointKind uint8

const (
	kindEvent endpointKind = iota
	kindConnect
	kindDisconnect
	kindNotFound // an event without a handler
	kindInvalid  // a message that could not be decoded
)

// endpoint is one thing a namespace runs through its chain: an event, a
// lifecycle handler, or the answer to an unknown event or an undecodable
// message. Every registration path (Handle, On, OnConnect, OnDisconnect,
// NotFound, Route, and the defaults) makes one with namespace.define.
type endpoint struct {
	Event
	kind  endpointKind
	name  string
	chain Handler
	// mws are the stages the chain was composed with.
	mws Middlewares
}

// namespace holds the events of one namespace and its local sockets, rooms
// and users. The event tables are read-only once the mux has started; the
// membership tables are guarded by mu.
type namespace struct {
	name     string
	srv      *server
	base     *Mux
	route    *Route
	presence *Presence // presence events, from the route or Mux.Presence
	// routeMws are the stages of the mux the route was registered through,
	// when they extend base's: the ones of the endpoints finish defines.
	routeMws Middlewares
	events   map[string]*endpoint

	connect, disconnect, notFound, invalid *endpoint

	mu      sync.RWMutex
	sockets map[string]*Socket // by id
	rooms   map[string]map[*Socket]struct{}
	users   map[string]map[*Socket]struct{}
	// roomUsers counts each user's local sockets per room, so presence
	// changes only when a user's first socket joins or last one leaves.
	roomUsers map[string]map[string]int
	// counts holds the last presence count sent to each room in counts
	// mode, for the sockets that join it.
	counts map[string]*link.Message

	// logMu orders the appends and deliveries of a single instance's rooms
	// with history; router delivers them (see recovery.go).
	logMu  sync.Mutex
	router catchup.Router
}

func (s *server) namespace(name string, base *Mux) *namespace {
	ns := &namespace{
		name:    name,
		srv:     s,
		base:    base,
		events:  make(map[string]*endpoint),
		sockets: make(map[string]*Socket),
		rooms:   make(map[string]map[*Socket]struct{}),
		users:   make(map[string]map[*Socket]struct{}),

		roomUsers: make(map[string]map[string]int),
	}
	ns.initRouter()
	s.namespaces[name] = ns
	s.order = append(s.order, name)
	return ns
}

// define composes an endpoint from its settings and its stages and
// registers it. The caller has checked the definition.
func (ns *namespace) define(kind endpointKind, name string, e Event, mws Middlewares) *endpoint {
	ep := &endpoint{Event: e, kind: kind, name: name, mws: mws}
	h := e.Handler
	switch kind {
	case kindConnect:
		ep.name = EventConnect
		h = ns.accept(h)
	case kindDisconnect:
		ep.name = EventDisconnect
	}
	ep.chain = mws.Handler(h)
	switch kind {
	case kindEvent:
		ns.events[name] = ep
	case kindConnect:
		ns.connect = ep
	case kindDisconnect:
		ns.disconnect = ep
	case kindNotFound:
		ns.notFound = ep
	case kindInvalid:
		ns.invalid = ep
	}
	return ep
}

// endpoint returns the lifecycle endpoint of a kind, or nil.
func (ns *namespace) endpoint(kind endpointKind) *endpoint {
	switch kind {
	case kindConnect:
		return ns.connect
	case kindDisconnect:
		return ns.disconnect
	case kindNotFound:
		return ns.notFound
	case kindInvalid:
		return ns.invalid
	}
	return nil
}

// hasHandlers reports whether anything was registered in the namespace.
func (ns *namespace) hasHandlers() bool {
	return len(ns.events) > 0 || ns.connect != nil || ns.disconnect != nil
}

// finish defines the endpoints that were not registered, with the
// namespace's own middleware stack, so that every connect, disconnect,
// unknown event and malformed message still passes through the middleware.
func (ns *namespace) finish() {
	mws := ns.defaultMws()
	if ns.connect == nil {
		ns.define(kindConnect, "", Event{}, mws)
	}
	if ns.disconnect == nil {
		ns.define(kindDisconnect, "", Event{Handler: func(*Ctx) error { return nil }}, mws)
	}
	if ns.notFound == nil {
		ns.define(kindNotFound, "", Event{Handler: func(c *Ctx) error {
			return &Error{Code: CodeUnknownEvent, Message: "no handler for event " + quoteName(c.event)}
		}}, mws)
	}
	if ns.invalid == nil {
		ns.define(kindInvalid, "", Event{Handler: func(c *Ctx) error { return c.decodeErr }}, mws)
	}
}

// defaultMws returns the stages of the endpoints finish defines.
func (ns *namespace) defaultMws() Middlewares {
	if ns.routeMws != nil {
		return ns.routeMws
	}
	return ns.base.mws
}

func quoteName(s string) string {
	return string(wire.AppendString(nil, s))
}

// accept wraps the application's connect handler: the socket becomes a
// member of the namespace and is told so before the handler runs, so that
// the handler's own emits follow the notice.
func (ns *namespace) accept(h Handler) Handler {
	return func(c *Ctx) error {
		sock := c.socket
		ns.add(sock)
		if ns.keepsHistory() {
			sock.startSession()
		} else {
			sock.acceptWith(nil, 0)
		}
		if h != nil {
			return h(c)
		}
		return nil
	}
}

func (ns *namespace) add(sock *Socket) {
	u := sock.User()
	first := false
	ns.mu.Lock()
	ns.sockets[sock.id] = sock
	if u != nil {
		set := ns.users[u.ID]
		if set == nil {
			set = make(map[*Socket]struct{})
			ns.users[u.ID] = set
			first = true
		}
		set[sock] = struct{}{}
	}
	sock.member = true
	ns.mu.Unlock()
	if u == nil {
		return
	}
	ns.srv.interest(sock.Context(), userTopic(ns.name, u.ID), topic{ns: ns, kind: topicUser, name: u.ID})
	if first {
		ns.srv.syncPresence(ns.name, "", u.ID)
	}
}

// presenceSnapshot appends this namespace's presence entries, from the
// local tables.
func (ns *namespace) presenceSnapshot(out []presence.Entry) []presence.Entry {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	e := presence.Entry{NS: ns.name}
	for uid := range ns.users {
		e.Users = append(e.Users, uid)
	}
	out = append(out, e)
	for room, users := range ns.roomUsers {
		e := presence.Entry{NS: ns.name, Room: room}
		for uid := range users {
			e.Users = append(e.Users, uid)
		}
		out = append(out, e)
	}
	return out
}

// countRoomUser adds delta to a user's local socket count in a room and
// reports whether the user appeared (0 to 1) or disappeared (1 to 0). Call
// with ns.mu held.
func (ns *namespace) countRoomUser(room, uid string, delta int) bool {
	users := ns.roomUsers[room]
	if users == nil {
		users = make(map[string]int)
		ns.roomUsers[room] = users
	}
	n := users[uid] + delta
	if n <= 0 {
		delete(users, uid)
		if len(users) == 0 {
			delete(ns.roomUsers, room)
		}
		return true
	}
	users[uid] = n
	return n == 1 && delta > 0
}

// remove takes a socket out of the namespace, its rooms and its user, and
// drops the cluster subscriptions nobody local needs any more.
func (ns *namespace) remove(sock *Socket) {
	ns.mu.Lock()
	if !sock.member {
		ns.mu.Unlock()
		return
	}
	sock.member = false
	delete(ns.sockets, sock.id)
	var emptied, gone, left []string // topics; rooms the user left ("": the namespace); rooms emptied
	u := sock.User()
	sock.mu.Lock()
	rooms := sock.rooms
	sock.rooms = nil
	sock.mu.Unlock()
	for room := range rooms {
		if set := ns.rooms[room]; set != nil {
			delete(set, sock)
			if len(set) == 0 {
				delete(ns.rooms, room)
				delete(ns.counts, room)
				emptied = append(emptied, roomTopic(ns.name, room))
				left = append(left, room)
			}
		}
		if u != nil && ns.countRoomUser(room, u.ID, -1) {
			gone = append(gone, room)
		}
	}
	if u != nil {
		if set := ns.users[u.ID]; set != nil {
			delete(set, sock)
			if len(set) == 0 {
				delete(ns.users, u.ID)
				emptied = append(emptied, userTopic(ns.name, u.ID))
				gone = append(gone, "")
			}
		}
	}
	ns.mu.Unlock()
	for _, t := range emptied {
		ns.srv.disinterest(t)
	}
	for _, room := range left {
		ns.router.Forget(room)
	}
	for _, room := range gone {
		ns.srv.syncPresence(ns.name, room, u.ID)
	}
}

// join adds a socket to a room. A socket that is closing joins nothing.
func (ns *namespace) join(sock *Socket, room string) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	ns.mu.Lock()
	if !sock.member {
		ns.mu.Unlock()
		return &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: link.ErrClosed}
	}
	if sock.closing.Load() {
		ns.mu.Unlock()
		return nil
	}
	sock.mu.Lock()
	if _, ok := sock.rooms[room]; ok {
		sock.mu.Unlock()
		ns.mu.Unlock()
		return nil
	}
	if max := ns.srv.cfg.Limits.MaxRoomsPerSocket; max > 0 && len(sock.rooms) >= max {
		sock.mu.Unlock()
		ns.mu.Unlock()
		return &Error{Code: CodeForbidden, Message: "too many rooms for one socket"}
	}
	if sock.rooms == nil {
		sock.rooms = make(map[string]struct{})
	}
	sock.rooms[room] = struct{}{}
	sock.mu.Unlock()
	set := ns.rooms[room]
	if set == nil {
		set = make(map[*Socket]struct{})
		ns.rooms[room] = set
	}
	set[sock] = struct{}{}
	if m := ns.counts[room]; m != nil {
		sock.deliver(m) // the room's count, before any later one
	}
	u := sock.User()
	appeared := u != nil && ns.countRoomUser(room, u.ID, +1)
	ns.mu.Unlock()
	if appeared {
		ns.srv.syncPresence(ns.name, room, u.ID)
	}
	name := roomTopic(ns.name, room)
	ns.srv.interest(sock.Context(), name, topic{ns: ns, kind: topicRoom, name: room})
	// The socket may have left meanwhile (closed from another goroutine),
	// before the subscription or the presence entry was made: undo them.
	ns.mu.RLock()
	empty, gone := len(ns.rooms[room]) == 0, appeared && ns.roomUsers[room][u.ID] == 0
	ns.mu.RUnlock()
	if empty {
		ns.srv.disinterest(name)
		ns.router.Forget(room)
	}
	if gone {
		ns.srv.syncPresence(ns.name, room, u.ID)
	}
	if sock.session != "" {
		sock.saveSession(0)
	}
	return nil
}

// leave removes a socket from a room.
func (ns *namespace) leave(sock *Socket, room string) error {
	ns.mu.Lock()
	sock.mu.Lock()
	_, ok := sock.rooms[room]
	delete(sock.rooms, room)
	sock.mu.Unlock()
	empty, gone := false, false
	u := sock.User()
	if ok {
		if set := ns.rooms[room]; set != nil {
			delete(set, sock)
			if len(set) == 0 {
				delete(ns.rooms, room)
				delete(ns.counts, room)
				empty = true
			}
		}
		gone = u != nil && ns.countRoomUser(room, u.ID, -1)
	}
	ns.mu.Unlock()
	if empty {
		ns.srv.disinterest(roomTopic(ns.name, room))
		ns.router.Forget(room)
	}
	if gone {
		ns.srv.syncPresence(ns.name, room, u.ID)
	}
	if ok && sock.session != "" {
		sock.saveSession(0)
	}
	return nil
}

// deliver queues a message for the local sockets of a target, except the
// socket with id except. The links it calls never block nor take ns.mu.
func (ns *namespace) deliver(kind byte, name, except string, msg *link.Message) {
	ns.mu.RLock()
	ns.each(kind, name, except, func(sock *Socket) { sock.deliver(msg) })
	ns.mu.RUnlock()
}

// deliverCount queues a room's presence count for its local sockets, and
// keeps it for those that join later.
func (ns *namespace) deliverCount(room string, m *link.Message) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	set := ns.rooms[room]
	if len(set) == 0 {
		return
	}
	if ns.counts == nil {
		ns.counts = make(map[string]*link.Message)
	}
	ns.counts[room] = m
	for sock := range set {
		sock.deliver(m)
	}
}

// localUsers returns the ids of the users with a socket in the target.
func (ns *namespace) localUsers(kind byte, name string) []string {
	ns.mu.RLock()
	seen := make(map[string]struct{})
	switch kind {
	case topicNamespace:
		for id := range ns.users {
			seen[id] = struct{}{}
		}
	case topicRoom:
		for sock := range ns.rooms[name] {
			if u := sock.User(); u != nil {
				seen[u.ID] = struct{}{}
			}
		}
	case topicUser:
		if len(ns.users[name]) > 0 {
			seen[name] = struct{}{}
		}
	}
	ns.mu.RUnlock()
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// localCount returns how many local sockets the target has.
func (ns *namespace) localCount(kind byte, name string) int {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	switch kind {
	case topicNamespace:
		return len(ns.sockets)
	case topicRoom:
		return len(ns.rooms[name])
	case topicUser:
		return len(ns.users[name])
	}
	return 0
}
