package realtime

import (
	"slices"
	"sync"

	"github.com/lolyjs/realtime/internal/catchup"
	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/rooms"
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
// and users. The event tables are read-only once the mux has started.
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

	// members are the namespace's local sockets, rooms and users.
	members *rooms.Table[*Socket]

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
		members: rooms.New((*Socket).deliver, (*Socket).userID),
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
	first := ns.members.Add(&sock.member)
	u := sock.User()
	if u == nil {
		return
	}
	ns.srv.interest(sock.Context(), userTopic(ns.name, u.ID), topic{ns: ns, kind: topicUser, name: u.ID})
	if first {
		ns.srv.syncPresence(ns.name, "", u.ID)
	}
}

// remove takes a socket out of the namespace, its rooms and its user, and
// drops the cluster subscriptions nobody local needs any more.
func (ns *namespace) remove(sock *Socket) {
	empty, gone, ok := ns.members.Remove(&sock.member)
	if !ok {
		return
	}
	uid := sock.userID()
	for _, room := range empty {
		ns.srv.disinterest(roomTopic(ns.name, room))
	}
	if slices.Contains(gone, "") {
		ns.srv.disinterest(userTopic(ns.name, uid))
	}
	for _, room := range empty {
		ns.router.Forget(room)
	}
	for _, room := range gone {
		ns.srv.syncPresence(ns.name, room, uid)
	}
}

// join adds a socket to a room. A socket that is closing joins nothing.
func (ns *namespace) join(sock *Socket, room string) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	out, appeared := ns.members.Join(&sock.member, room, ns.srv.cfg.Limits.MaxRoomsPerSocket, sock.closing.Load())
	switch out {
	case rooms.Unlisted:
		return &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: link.ErrClosed}
	case rooms.Full:
		return &Error{Code: CodeForbidden, Message: "too many rooms for one socket"}
	case rooms.Already, rooms.Closing:
		return nil
	}
	uid := sock.userID()
	if appeared {
		ns.srv.syncPresence(ns.name, room, uid)
	}
	name := roomTopic(ns.name, room)
	ns.srv.interest(sock.Context(), name, topic{ns: ns, kind: topicRoom, name: room})
	// The socket may have left meanwhile (closed from another goroutine),
	// before the subscription or the presence entry was made: undo them.
	empty, gone := ns.members.Vacant(room, uid)
	if empty {
		ns.srv.disinterest(name)
		ns.router.Forget(room)
	}
	if appeared && gone {
		ns.srv.syncPresence(ns.name, room, uid)
	}
	if sock.session != "" {
		sock.saveSession(0)
	}
	return nil
}

// leave removes a socket from a room.
func (ns *namespace) leave(sock *Socket, room string) error {
	ok, empty, gone := ns.members.Leave(&sock.member, room)
	if empty {
		ns.srv.disinterest(roomTopic(ns.name, room))
		ns.router.Forget(room)
	}
	if gone {
		ns.srv.syncPresence(ns.name, room, sock.userID())
	}
	if ok && sock.session != "" {
		sock.saveSession(0)
	}
	return nil
}

// deliver queues a message for the local sockets of a target, except the
// socket with id except. The links it calls never block nor take a lock of
// the namespace's.
func (ns *namespace) deliver(kind byte, name, except string, msg *link.Message) {
	ns.members.Deliver(kind, name, except, msg)
}
