// Package node runs the backends of one instance: the store and the
// history log (in memory when the application gives none), presence
// events, and in a cluster the instance's presence registration, the
// broker's subscriptions and the publisher. It starts them in order, undoes
// a start that fails, and stops them in reverse. It knows nothing of
// sockets: each topic it routes carries a value of its owner's (a T).
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lolyjs/realtime/broadcast"
	"github.com/lolyjs/realtime/history"
	hmemory "github.com/lolyjs/realtime/history/memory"
	"github.com/lolyjs/realtime/internal/interest"
	"github.com/lolyjs/realtime/internal/presence"
	"github.com/lolyjs/realtime/internal/publish"
	"github.com/lolyjs/realtime/store"
	"github.com/lolyjs/realtime/store/memory"
)

// Config is what an instance starts with.
type Config[T any] struct {
	// Store, Broker and History are the application's (nil: none given).
	Store   store.Store
	Broker  broadcast.Broker
	History history.Log
	// ID is the instance's id in the cluster.
	ID          string
	PresenceTTL time.Duration
	Logger      *slog.Logger
	// KeepsHistory tells that a room may keep history: a cluster then
	// needs the application's History.
	KeepsHistory bool
	// Events, when set, are the settings of the presence events, which
	// Start completes with their roster. Their Publish is for a cluster
	// only: Start drops it for a single instance.
	Events *presence.EventsConfig
	// Snapshot and Local are presence's (see presence.Config).
	Snapshot func() []presence.Entry
	Local    func(ns, room, user string) bool
	// Topics are subscribed at start, in order. Receive handles what the
	// broker delivers; Resume is called when it reconnects.
	Topics  []Topic[T]
	Receive Receiver[T]
	Resume  func()
}

// Topic is a broker topic and what it stands for.
type Topic[T any] struct {
	Name  string
	Value T
	// About names it in an error, like "namespace /chat".
	About string
}

// Node is an instance's backends. Its fields are set by Start and read-only
// afterwards.
type Node[T any] struct {
	ID      string
	Store   store.Store
	History history.Log
	// Broker is nil for a single instance.
	Broker broadcast.Broker
	// Presence is the cluster's presence (nil for a single instance).
	Presence *presence.Presence
	// Events are the presence events (nil when no namespace has them).
	Events *presence.Events

	ownStore, ownHistory bool
	subs                 *interest.Set[T]
	publisher            *publish.Publisher
}

// Start starts the backends. In a cluster it first claims the instance id
// (presence.ErrInstanceIDInUse when a live process holds it); ctx bounds
// that wait and the subscriptions. A start that fails leaves nothing
// running.
func (n *Node[T]) Start(ctx context.Context, cfg Config[T]) error {
	n.ID = cfg.ID
	n.Store, n.ownStore = cfg.Store, false
	if n.Store == nil {
		n.Store, n.ownStore = memory.New(), true
	}
	n.Broker = cfg.Broker
	n.History, n.ownHistory = cfg.History, false
	if n.History == nil {
		if n.Broker != nil && cfg.KeepsHistory {
			n.undoStore()
			return errors.New("realtime: config: a route keeps History but History (the log) is nil: " +
				"the instances of a cluster must share one, such as the one cluster.Redis (package github.com/lolyjs/realtime/cluster) builds from REDIS_URL")
		}
		n.History, n.ownHistory = hmemory.New(nil), true
	}
	events, err := n.startEvents(cfg)
	if err != nil {
		n.undoStore()
		return err
	}
	if n.Broker == nil {
		return nil
	}
	// The instance id first: a process refused for a duplicate id receives
	// nothing.
	n.Presence = presence.New(presence.Config{
		Store: n.Store, ID: n.ID, TTL: cfg.PresenceTTL, Logger: cfg.Logger, Snapshot: cfg.Snapshot,
		Local: cfg.Local, Events: events,
	})
	n.Events = n.Presence.Events()
	if err := n.Presence.Claim(ctx); err != nil {
		n.closeEvents(0)
		n.undoStore()
		return fmt.Errorf("realtime: register presence: %w", err)
	}
	if err := n.startCluster(ctx, cfg); err != nil {
		n.subs.StopRetrying()
		if n.publisher != nil {
			pctx, cancel := context.WithTimeout(context.Background(), time.Second)
			n.publisher.Close(pctx)
			cancel()
		}
		n.Presence.Release()
		n.closeEvents(0)
		n.undoStore()
		return err
	}
	return nil
}

// startEvents makes the presence events: returns their settings for a
// cluster's presence, or starts them on a single instance.
func (n *Node[T]) startEvents(cfg Config[T]) (*presence.EventsConfig, error) {
	ec := cfg.Events
	if ec == nil {
		return nil, nil
	}
	if n.Broker == nil {
		ec.Roster, ec.Publish = memory.New(), nil
		n.Events = presence.NewEvents(*ec, "local")
		return nil, nil
	}
	roster, ok := n.Store.(store.Roster)
	if !ok {
		return nil, errors.New("realtime: presence events in a cluster need a Store that implements store.Roster, " +
			"as the stores of this module do (cluster.Redis builds one); this Store does not")
	}
	ec.Roster, ec.Linger = roster, cfg.PresenceTTL
	return ec, nil
}

// startCluster starts the broker, the subscriptions, the publisher and the
// presence heartbeat, once the instance id is claimed.
func (n *Node[T]) startCluster(ctx context.Context, cfg Config[T]) error {
	n.subs = interest.New[T](n.Broker, cfg.Logger)
	if r, ok := n.Broker.(broadcast.Resumer); ok && cfg.Resume != nil {
		r.OnResume(cfg.Resume)
	}
	if err := n.Broker.Start(ctx, n.receive(cfg.Receive)); err != nil {
		return fmt.Errorf("realtime: start broker: %w", err)
	}
	for _, t := range cfg.Topics {
		if err := n.subs.Subscribe(ctx, t.Name, t.Value); err != nil {
			return fmt.Errorf("realtime: subscribe %s: %w", t.About, err)
		}
	}
	n.publisher = publish.New(n.Broker, cfg.Logger.Warn)
	if err := n.Presence.Start(ctx); err != nil {
		return fmt.Errorf("realtime: register presence: %w", err)
	}
	return nil
}

// closeEvents stops the presence events, after the hook calls already
// queued (for up to grace).
func (n *Node[T]) closeEvents(grace time.Duration) {
	if n.Events != nil {
		n.Events.Close(grace)
		n.Events = nil
	}
}

// undoStore closes the store and log made for a start that failed.
func (n *Node[T]) undoStore() {
	if n.ownStore {
		_ = n.Store.Close()
	}
	if n.ownHistory {
		_ = n.History.Close()
	}
	n.Store, n.ownStore, n.History, n.ownHistory = nil, false, nil, false
}

// Stop stops what Start started: the publisher (after what it holds, for
// up to two seconds), presence, the subscriptions, and the store and log
// when Start made them. Backends the application gave are left open.
func (n *Node[T]) Stop() {
	if n.publisher != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n.publisher.Close(ctx)
		cancel()
	}
	if n.Presence != nil {
		n.Presence.Close()
	} else {
		n.closeEvents(time.Second)
	}
	if n.subs != nil {
		n.subs.Stop()
	}
	if n.ownStore {
		_ = n.Store.Close()
	}
	if n.ownHistory {
		_ = n.History.Close()
	}
}

// Lookup returns what a routed topic stands for.
func (n *Node[T]) Lookup(name string) (T, bool) { return n.subs.Lookup(name) }

// Want makes sure the broker delivers a topic here while a local socket
// needs it (see internal/interest: a subscription that fails does not undo
// the local join, and is retried until the broker is back).
func (n *Node[T]) Want(ctx context.Context, name string, t T) {
	if n.subs != nil {
		n.subs.Want(ctx, name, t)
	}
}

// Drop drops a topic once no local socket needs it: needed tells whether
// one still does.
func (n *Node[T]) Drop(name string, needed func(T) bool) {
	if n.subs != nil {
		n.subs.Drop(name, needed)
	}
}

// Publish queues a cluster message for the other instances; it does
// nothing for a single instance.
func (n *Node[T]) Publish(topic string, buf []byte) error {
	switch {
	case n.Broker == nil:
		return nil
	case n.publisher == nil:
		return errors.New("realtime: not started")
	}
	return n.publisher.Enqueue(topic, buf)
}

// Cluster reports whether the instance is one of a cluster.
func (n *Node[T]) Cluster() bool { return n.Broker != nil }

// Sync brings the presence of a user in a namespace (room "") or a room,
// and the room's presence events, to the local tables.
func (n *Node[T]) Sync(ns, room, user string) {
	if n.Presence != nil {
		n.Presence.Sync(ns, room, user)
	} else if n.Events != nil && room != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = n.Events.Sync(ctx, ns, room, user) // in memory: cannot fail
		cancel()
	}
}
