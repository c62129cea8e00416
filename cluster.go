package realtime

import (
	"context"

	"github.com/lolyjs/realtime/history"
	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/relay"
	"github.com/lolyjs/realtime/internal/rooms"
)

// Kinds of topic: a whole namespace, a room, or a user.
const (
	topicNamespace = rooms.KindNamespace
	topicRoom      = rooms.KindRoom
	topicUser      = rooms.KindUser
)

// topic is what a broker topic this instance subscribed to stands for.
type topic struct {
	ns   *namespace
	kind byte
	name string
}

func namespaceTopic(ns string) string    { return "ns:" + ns }
func roomTopic(ns, room string) string   { return "room:" + ns + ":" + room }
func userTopic(ns, userID string) string { return "user:" + ns + ":" + userID }

// interest makes sure the broker delivers a room's or user's topic here
// while a local socket needs it.
func (s *server) interest(ctx context.Context, name string, t topic) { s.node.Want(ctx, name, t) }

// disinterest drops a topic once no local socket needs it.
func (s *server) disinterest(name string) {
	s.node.Drop(name, func(t topic) bool { return t.kind == topicNamespace || t.ns.members.Count(t.kind, t.name) > 0 })
}

// publish queues an emit for the other instances (see internal/relay for
// the message format).
func (s *server) publish(ctx context.Context, name, except string, msg *link.Message) error {
	if !s.node.Cluster() {
		return nil
	}
	return s.enqueue(name, relay.AppendEmit(nil, s.node.ID, except, msg.Event, msg.Data, msg.Spread))
}

// publishControl queues a control operation for the other instances.
func (s *server) publishControl(name, except string, c *relay.Control) error {
	if !s.node.Cluster() {
		return nil
	}
	buf, err := relay.AppendControl(nil, s.node.ID, except, c)
	if err != nil {
		return err
	}
	return s.enqueue(name, buf)
}

func (s *server) enqueue(name string, buf []byte) error {
	if err := s.node.Publish(name, buf); err != nil {
		return &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: err}
	}
	return nil
}

// receive is the broker's handler: it delivers another instance's emit, or
// any instance's message of a room with history, to the local sockets of
// the topic, or applies another instance's control operation to them.
func (s *server) receive(name string, payload []byte) {
	t, known := s.node.Lookup(name)
	if !known {
		return
	}
	if pos, prev, body, ok := history.ParseFrame(payload); ok {
		s.receiveLogged(t, pos, prev, body)
		return
	}
	m, ok := relay.Parse(payload, s.node.ID)
	switch {
	case !ok:
	case m.Control != nil:
		t.ns.control(t.kind, t.name, m.Except, m.Control)
	case t.kind == topicRoom && s.node.Events != nil && (m.Event == EventPresence || m.Event == EventPresenceCount):
		s.node.Events.Receive(t.ns.name, t.name, m.Event, m.Data)
	default:
		msg := link.NewMessage(m.Event, m.Data)
		msg.Spread = m.Spread
		t.ns.deliver(t.kind, t.name, m.Except, msg)
	}
}
