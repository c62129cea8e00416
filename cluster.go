package realtime

import (
	"context"

	"github.com/lolyjs/realtime/internal/link"
	"github.com/lolyjs/realtime/internal/node"
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

// publish queues an emit for the other instances.
func (s *server) publish(ctx context.Context, name, except string, msg *link.Message) error {
	return publishError(s.node.Emit(name, except, msg))
}

// publishControl queues a control operation for the other instances.
func (s *server) publishControl(name, except string, c *relay.Control) error {
	return publishError(s.node.Control(name, except, c))
}

func publishError(err error) error {
	if err != nil {
		return &Error{Code: CodeInternal, Message: ErrInternal.Message, Cause: err}
	}
	return nil
}

// receiver hands what the broker delivers (see node.Receiver) to the
// namespace of its topic.
func (s *server) receiver() node.Receiver[topic] {
	return node.Receiver[topic]{
		Logged:  s.receiveLogged,
		Control: func(t topic, except string, c *relay.Control) { t.ns.control(t.kind, t.name, except, c) },
		Emit:    func(t topic, except string, msg *link.Message) { t.ns.deliver(t.kind, t.name, except, msg) },
		Room:    func(t topic) (string, string, bool) { return t.ns.name, t.name, t.kind == topicRoom },
	}
}
