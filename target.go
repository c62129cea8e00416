package realtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/relay"
)

// Target is a set of sockets to emit to or control: a whole namespace, a
// room, a user's sockets or one socket by id, on every instance of the
// cluster. Get one from Ctx.ToRoom, Ctx.ToUser, Ctx.ToSocket or Mux.In.
// Besides Emit, a Target disconnects its sockets (Disconnect) and puts them
// in and out of rooms (Join, Leave) from any instance. A Target is a small
// value, safe to copy and to use concurrently.
type Target struct {
	ctx    context.Context
	ns     *namespace
	kind   byte
	name   string
	except string
}

// In returns the Target of a whole namespace, for emitting to sockets and
// controlling them from outside handlers. It panics if the namespace does
// not exist.
func (m *Mux) In(namespace string) Target {
	ns := m.srv.namespaces[namespace]
	if ns == nil {
		panic(fmt.Sprintf("realtime: In(%q): no such namespace", namespace))
	}
	return Target{ctx: context.Background(), ns: ns, kind: topicNamespace}
}

// WithContext returns the Target with ctx bounding its emits' cluster
// publishes. Targets from a Ctx use the socket's context.
func (t Target) WithContext(ctx context.Context) Target {
	t.ctx = ctx
	return t
}

// ToRoom narrows a namespace Target to one room.
func (t Target) ToRoom(room string) Target {
	return Target{ctx: t.ctx, ns: t.ns, kind: topicRoom, name: room, except: t.except}
}

// ToUser narrows a namespace Target to the sockets of one user.
func (t Target) ToUser(userID string) Target {
	return Target{ctx: t.ctx, ns: t.ns, kind: topicUser, name: userID, except: t.except}
}

// Except returns the Target without the socket with the given id.
func (t Target) Except(socketID string) Target {
	t.except = socketID
	return t
}

func (t Target) topicName() string {
	switch t.kind {
	case topicRoom:
		return roomTopic(t.ns.name, t.name)
	case topicUser:
		return userTopic(t.ns.name, t.name)
	}
	return namespaceTopic(t.ns.name)
}

// Emit sends the event to every socket of the target: data is encoded once,
// queued for the local sockets at once, and queued once for the other
// instances, which a background publisher forwards in order (a burst in one
// round trip). It never waits for a client or for Redis. It fails if data
// cannot be encoded, or while the other instances cannot be reached: from a
// failed publish until one succeeds again, except for one emit a second that
// is queued to try again. Local sockets have their copy either way. An emit
// that returns nil may still be lost for the other instances when Redis
// fails: see RELIABILITY.md for exactly which.
func (t Target) Emit(event string, data any) error {
	if t.ns == nil {
		return errors.New("realtime: Emit on a zero Target")
	}
	if event == "" {
		return errors.New("realtime: Emit with an empty event name")
	}
	payload, err := encodeData(data)
	if err != nil {
		return fmt.Errorf("realtime: encode data of %q: %w", event, err)
	}
	return t.send(link.NewMessage(event, payload))
}

// EmitArgs is Emit with several arguments, which a Socket.IO client's
// listener receives as its arguments (socket.on("move", (x, y) => ...)). A
// native client receives one value, as a handler reads Ctx.Data: one
// argument itself, several as a JSON array, none as no data.
func (t Target) EmitArgs(event string, args ...any) error {
	if t.ns == nil {
		return errors.New("realtime: EmitArgs on a zero Target")
	}
	if event == "" {
		return errors.New("realtime: EmitArgs with an empty event name")
	}
	msg, err := link.NewArgs(event, args)
	if err != nil {
		return fmt.Errorf("realtime: encode arguments of %q: %w", event, err)
	}
	return t.send(msg)
}

func (t Target) send(msg *link.Message) error {
	if t.kind == topicRoom {
		if h := t.ns.historyOf(t.name); h.Size > 0 {
			return t.emitLogged(h, msg)
		}
	}
	if t.kind == targetSocket {
		return t.control(&relay.Control{Op: relay.OpEmit, Event: msg.Event, Data: msg.Data, Spread: msg.Spread})
	}
	t.ns.deliver(t.kind, t.name, t.except, msg)
	return t.ns.srv.publish(t.ctx, t.topicName(), t.except, msg)
}

// Users returns the ids of the users with a socket in the target, sorted.
// On a single instance the answer is exact; in a cluster it comes from the
// shared presence and covers every instance.
func (t Target) Users(ctx context.Context) ([]string, error) {
	if t.ns == nil {
		return nil, errors.New("realtime: Users on a zero Target")
	}
	if t.kind == targetSocket {
		return nil, errors.New("realtime: Users on a ToSocket Target; use the socket's User")
	}
	room, user := "", "" // a user is online when listed in the namespace anywhere
	switch t.kind {
	case topicRoom:
		room = t.name
	case topicUser:
		user = t.name
	}
	if users, cluster, err := t.ns.srv.node.Users(ctx, t.ns.name, room, user); cluster {
		if err != nil {
			return nil, &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: fmt.Errorf("realtime: read presence: %w", err)}
		}
		return users, nil
	}
	return t.ns.members.Users(t.kind, t.name), nil
}
