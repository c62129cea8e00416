// Package broadcast defines how realtime instances pass messages to one
// another: a Broker carries opaque payloads on named topics between the
// instances of one cluster.
//
// This package holds only the Broker interface, its ErrClosed error and, in
// broadcasttest, a conformance suite. The implementations live in
// broadcast/memory (instances in one process) and broadcast/redis (many
// processes sharing one Redis, through pub/sub). A single instance needs no
// broker.
//
// A Broker knows nothing of rooms, sockets or encodings: the realtime Mux
// decides which topics it needs (it subscribes to a room's topic when its first
// local socket joins and unsubscribes when the last one leaves), encodes each
// message once, and ignores its own publications.
//
// A Broker is not a queue: delivery is at most once. Messages published while
// a broker is cut off from its backend are lost for that broker; nothing is
// stored or replayed.
package broadcast

import (
	"context"
	"errors"
)

// ErrClosed is returned (possibly wrapped; test with errors.Is) by the methods
// of a Broker that has been closed.
var ErrClosed = errors.New("broadcast: broker closed")

// Handler receives one message published on a subscribed topic. The payload
// belongs to the handler. Handlers are called from one goroutine per broker,
// in the order the broker received the messages, and must not block for long.
// A Handler may call its broker's Publish, Subscribe and Unsubscribe, but not
// Close (Close waits for the Handler to return).
type Handler func(topic string, payload []byte)

// Broker carries messages between the instances of a cluster. All methods are
// safe for concurrent use.
//
// Required behaviour, checked by the conformance suite:
//   - a message published on a topic reaches the Handler of every broker in the
//     cluster (the publisher's own included) that is subscribed to that topic,
//     once, with the payload unchanged;
//   - messages from one publisher on one topic arrive in publish order;
//   - Subscribe and Unsubscribe take effect before they return: a message
//     published after Subscribe returns is delivered, and one published after
//     Unsubscribe returns is not;
//   - subscribing twice to a topic is the same as subscribing once (one
//     Unsubscribe undoes both);
//   - when the backend is unreachable, Publish fails promptly with an error,
//     and subscriptions are restored by the broker itself once it is back;
//   - after Close, Handler is never called again and methods return errors
//     (wrapping ErrClosed).
type Broker interface {
	// Start sets the handler for incoming messages and starts receiving. It is
	// called once, before any Subscribe.
	Start(ctx context.Context, h Handler) error
	// Publish sends payload to every broker subscribed to topic. The caller
	// may reuse payload once Publish returns.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe starts delivering the topics' messages to the handler.
	Subscribe(ctx context.Context, topics ...string) error
	// Unsubscribe stops delivering the topics' messages.
	Unsubscribe(ctx context.Context, topics ...string) error
	// Close stops receiving and releases the broker's resources. When it
	// returns, no Handler call is running and none will start.
	Close() error
}

// Message is one payload for one topic, for BatchPublisher.
type Message struct {
	Topic   string
	Payload []byte
}

// BatchPublisher is implemented by brokers that can send several messages in
// one round trip (a Redis pipeline, for example). The realtime Mux uses it,
// when the broker has it, to forward a burst of emits at once. Messages are
// published in order; an error means some or all of them were not.
type BatchPublisher interface {
	PublishBatch(ctx context.Context, msgs []Message) error
}

// Resumer is implemented by brokers that can lose messages while they
// reconnect to their backend (broadcast/redis does: pub/sub keeps nothing
// for a subscriber that is away). OnResume sets a function that the broker
// calls after each reconnection, once its subscriptions are restored, on
// its Handler's goroutine: after the messages received before the loss and
// before any received after. The realtime Mux uses it to catch rooms with
// history up from their history.
type Resumer interface {
	OnResume(fn func())
}
