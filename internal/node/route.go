package node

import (
	"context"

	"github.com/lolyjs/realtime/history"
	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/presence"
	"github.com/lolyjs/realtime/internal/relay"
)

// Receiver handles what the broker delivers on a routed topic, by what it
// is. Its functions are called on the broker's goroutine.
type Receiver[T any] struct {
	// Logged is a frame a history log published, from any instance.
	Logged func(t T, pos history.Position, prev uint64, body []byte)
	// Control is another instance's control operation.
	Control func(t T, except string, c *relay.Control)
	// Emit is another instance's emit, for the local sockets of t but the
	// one with id except.
	Emit func(t T, except string, msg *link.Message)
	// Room returns the namespace and room of a room's topic, and false for
	// other topics: the presence events of a room go to the Events.
	Room func(t T) (ns, room string, ok bool)
}

// receive is the broker's handler: it hands another instance's message (or
// any instance's of a room with history) to the Receiver, or the presence
// events of a room to the Events.
func (n *Node[T]) receive(r Receiver[T]) func(name string, payload []byte) {
	return func(name string, payload []byte) {
		t, known := n.Lookup(name)
		if !known {
			return
		}
		if pos, prev, body, ok := history.ParseFrame(payload); ok {
			r.Logged(t, pos, prev, body)
			return
		}
		m, ok := relay.Parse(payload, n.ID)
		if !ok {
			return
		}
		if m.Control != nil {
			r.Control(t, m.Except, m.Control)
			return
		}
		if m.Event == presence.EventPresence || m.Event == presence.EventCount {
			if ns, room, isRoom := r.Room(t); isRoom && n.Events != nil {
				n.Events.Receive(ns, room, m.Event, m.Data)
				return
			}
		}
		msg := link.NewMessage(m.Event, m.Data)
		msg.Spread = m.Spread
		r.Emit(t, m.Except, msg)
	}
}

// Emit queues an emit for the other instances (see internal/relay for the
// message format); it does nothing for a single instance.
func (n *Node[T]) Emit(topic, except string, msg *link.Message) error {
	if !n.Cluster() {
		return nil
	}
	return n.Publish(topic, relay.AppendEmit(nil, n.ID, except, msg.Event, msg.Data, msg.Spread))
}

// Control queues a control operation for the other instances; it does
// nothing for a single instance.
func (n *Node[T]) Control(topic, except string, c *relay.Control) error {
	if !n.Cluster() {
		return nil
	}
	buf, err := relay.AppendControl(nil, n.ID, except, c)
	if err != nil {
		return err
	}
	return n.Publish(topic, buf)
}

// Users returns, in a cluster, the users that the shared presence lists in
// a namespace (room "") or a room, or, when user is set, that user alone if
// it is listed in the namespace, none otherwise. It reports false for a
// single instance, whose local tables answer instead.
func (n *Node[T]) Users(ctx context.Context, ns, room, user string) ([]string, bool, error) {
	if n.Presence == nil {
		return nil, false, nil
	}
	users, err := n.Presence.Users(ctx, ns, room)
	if err != nil {
		return nil, true, err
	}
	if user == "" {
		return users, true, nil
	}
	for _, u := range users {
		if u == user {
			return []string{u}, true, nil
		}
	}
	return []string{}, true, nil
}
