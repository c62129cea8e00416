// Package redis is a broadcast.Broker for realtime instances in many
// processes or machines: they share one Redis (standalone, Sentinel or
// Cluster) and pass messages through its pub/sub.
//
// Each topic is the Redis channel Options.Prefix+topic. A Broker publishes
// through the client it is given and receives on one pub/sub connection of
// its own, which it keeps alive: it pings the connection when it is idle,
// replaces it when it stops answering, and resubscribes to its topics after
// every reconnection (go-redis does the resubscribing). Publish fails fast,
// after Options.PublishTimeout, while Redis cannot be reached. A Redis that
// hangs instead (its connections stay open and nothing answers: a stall, a
// network that drops packets) holds a publish for the client's ReadTimeout
// (5 s by default in go-redis), and the publish succeeds, late, if Redis
// answers by then; with ContextTimeoutEnabled set in the client's options,
// PublishTimeout bounds that case too, at the price of failing publishes
// that a short stall would only have delayed.
//
// Redis pub/sub delivers at most once: messages published while a broker is
// disconnected are lost for it. This package is not a queue and not for
// instances that all live in one process (use broadcast/memory).
//
// The Handler runs on a goroutine of its own, fed by an unbounded queue, so
// that a slow Handler never stalls the connection (Redis would cut it off)
// and may itself call Publish, Subscribe and Unsubscribe; a Handler that
// cannot keep up makes the queue grow.
//
// # Redis Cluster
//
// Plain PUBLISH works on a cluster, but every node forwards every message to
// every other node. With Options.Sharded the broker uses SPUBLISH and
// SSUBSCRIBE, which keep a channel's traffic on the shard that owns it. As
// one pub/sub connection reaches one node only, all of a broker's channels
// must live in one hash slot: the prefix must contain a hash tag ("{...}"),
// and so all topics live on one shard. Redis drops shard subscriptions when
// their slot moves to another node; this package does not notice that until
// the connection is replaced, so reshard with the instances restarted.
package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lolyjs/realtime/broadcast"
	"github.com/lolyjs/realtime/broadcast/internal/dispatch"
)

// Defaults for Options.
const (
	DefaultPrefix           = "loly:rt:"
	DefaultShardedPrefix    = "{loly:rt}:"
	DefaultPublishTimeout   = time.Second
	DefaultSubscribeTimeout = 5 * time.Second
	DefaultFailFastFor      = time.Second
)

// pingInterval paces the health check of the pub/sub connection: it is
// pinged when nothing came in for pingInterval, and replaced when nothing came
// in for 4*pingInterval. A variable for tests; New copies it.
var pingInterval = 5 * time.Second

// Pacing of reconnection attempts.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// syncPrefix starts the payload of the PINGs that Subscribe sends after
// SUBSCRIBE to learn when Redis has processed it.
const syncPrefix = "loly:rt:sync:"

// anchorTopic is subscribed to in sharded mode, so the pub/sub connection
// always has a shard channel that tells go-redis which node to (re)connect to.
const anchorTopic = "#anchor"

var (
	errNotStarted = errors.New("redis: broker not started")
	errStarted    = errors.New("redis: broker already started")
	errNilHandler = errors.New("redis: nil handler")
	errClosed     = fmt.Errorf("redis: %w", broadcast.ErrClosed)
)

// Options configure a Broker. The zero value is usable.
type Options struct {
	// Prefix is prepended to each topic to make its Redis channel; brokers
	// of one cluster must share it, and clusters sharing a Redis must not.
	// The default is DefaultPrefix, or DefaultShardedPrefix with Sharded.
	Prefix string
	// Sharded uses SPUBLISH and SSUBSCRIBE (Redis 7 or later), for Redis
	// Cluster; Prefix must then contain a hash tag. See the package doc.
	Sharded bool
	// PublishTimeout bounds each Publish, on top of its context, so that
	// Publish fails fast when Redis cannot be reached (a Redis that hangs
	// is bounded only by a client with ContextTimeoutEnabled; see the
	// package doc). The default is DefaultPublishTimeout.
	PublishTimeout time.Duration
	// SubscribeTimeout bounds each Subscribe and Unsubscribe whose context
	// has no deadline. The default is DefaultSubscribeTimeout.
	SubscribeTimeout time.Duration
	// FailFastFor is how long after a failed Publish the next ones fail at
	// once with ErrUnavailable instead of each waiting PublishTimeout; after
	// it, one Publish tries Redis again while the others keep failing fast.
	// So while Redis is down a handler that emits loses no time, and the
	// first publish after Redis is back succeeds. The default is
	// DefaultFailFastFor; a negative value turns it off.
	FailFastFor time.Duration
}

// ErrUnavailable is returned by Publish, without trying Redis, shortly after
// a publish failed (see Options.FailFastFor).
var ErrUnavailable = errors.New("redis: unavailable: a recent publish failed")

// Broker is a broadcast.Broker on Redis pub/sub. Create it with New or Open;
// all methods are safe for concurrent use.
type Broker struct {
	client     goredis.UniversalClient
	ownsClient bool
	opts       Options
	pingEvery  time.Duration // pingInterval when created

	closed   atomic.Bool // also set under mu; read without it by Publish
	done     chan struct{}
	lastRecv atomic.Int64 // UnixNano of the last thing read from the pub/sub connection
	seq      atomic.Uint64
	refusals atomic.Uint64 // error replies read from the pub/sub connection
	// failedAt is when the last Publish failed (UnixNano), or 0 after a
	// success: the fail-fast window of Options.FailFastFor.
	failedAt atomic.Int64

	mu      sync.Mutex // guards the fields below
	started bool
	ps      *goredis.PubSub
	d       *dispatch.Dispatcher
	topics  map[string]struct{}      // subscribed topics
	waiters map[string]chan struct{} // sync PING payload -> closed on its PONG
	epoch   chan struct{}            // closed and replaced when the connection fails
	refusal error                    // the last error reply
	resume  func()                   // see OnResume
	wg      sync.WaitGroup
}

var (
	_ broadcast.Broker  = (*Broker)(nil)
	_ broadcast.Resumer = (*Broker)(nil)
)

// OnResume sets the function called after each reconnection of the pub/sub
// connection, once its subscriptions are restored (see broadcast.Resumer).
func (b *Broker) OnResume(fn func()) {
	b.mu.Lock()
	b.resume = fn
	b.mu.Unlock()
}

// New returns a broker that publishes through client and subscribes on a
// pub/sub connection from it. It does not contact Redis. Close does not close
// client.
func New(client goredis.UniversalClient, opts Options) (*Broker, error) {
	if client == nil {
		return nil, errors.New("redis: nil client")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
		if opts.Sharded {
			opts.Prefix = DefaultShardedPrefix
		}
	}
	if opts.Sharded && !hasHashTag(opts.Prefix) {
		return nil, fmt.Errorf("redis: sharded prefix %q has no hash tag: wrap a part of it in braces, as in %q", opts.Prefix, DefaultShardedPrefix)
	}
	if opts.PublishTimeout < 0 || opts.SubscribeTimeout < 0 {
		return nil, errors.New("redis: negative timeout")
	}
	if opts.PublishTimeout == 0 {
		opts.PublishTimeout = DefaultPublishTimeout
	}
	if opts.SubscribeTimeout == 0 {
		opts.SubscribeTimeout = DefaultSubscribeTimeout
	}
	if opts.FailFastFor == 0 {
		opts.FailFastFor = DefaultFailFastFor
	}
	return &Broker{
		client:    client,
		opts:      opts,
		pingEvery: pingInterval,
		done:      make(chan struct{}),
		topics:    make(map[string]struct{}),
		waiters:   make(map[string]chan struct{}),
		epoch:     make(chan struct{}),
	}, nil
}

// Open returns a broker on a client it creates from url (see
// goredis.ParseURL: redis://[user:password@]host:port/db?options, or
// rediss:// for TLS), and closes that client on Close.
func Open(url string, opts Options) (*Broker, error) {
	o, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	c := goredis.NewClient(o)
	b, err := New(c, opts)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	b.ownsClient = true
	return b, nil
}

// hasHashTag reports whether s holds a Redis Cluster hash tag: a non-empty
// part between the first '{' and the first '}' after it.
func hasHashTag(s string) bool {
	i := strings.IndexByte(s, '{')
	if i < 0 {
		return false
	}
	j := strings.IndexByte(s[i+1:], '}')
	return j > 0
}

func (b *Broker) channel(topic string) string { return b.opts.Prefix + topic }

func (b *Broker) channels(topics []string) []string {
	cs := make([]string, 0, len(topics))
	seen := make(map[string]struct{}, len(topics))
	for _, t := range topics {
		if _, dup := seen[t]; dup {
			continue
		}
		seen[t] = struct{}{}
		cs = append(cs, b.channel(t))
	}
	return cs
}

// Start sets the handler and starts the goroutines that receive, keep the
// connection healthy and call the handler. It does not wait for Redis: if
// Redis is unreachable, the broker keeps trying to connect. It fails if h is
// nil, or if the broker was already started or is closed.
func (b *Broker) Start(ctx context.Context, h broadcast.Handler) error {
	if h == nil {
		return errNilHandler
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed.Load():
		return errClosed
	case b.started:
		return errStarted
	}
	b.started = true
	if b.opts.Sharded {
		// The anchor tells go-redis which node to dial; with no channel it
		// would pick any. The context is canceled so that go-redis does not
		// dial here: it only records the channel, and receive connects.
		noDial, cancel := context.WithCancel(ctx)
		cancel()
		b.ps = b.client.SSubscribe(noDial, b.channel(anchorTopic))
	} else {
		b.ps = b.client.Subscribe(ctx)
	}
	b.d = dispatch.Start(h, b.accepts)
	b.lastRecv.Store(time.Now().UnixNano())
	b.wg.Add(2)
	go b.receive()
	go b.keepAlive()
	return nil
}

// accepts reports whether messages on topic are to be handed to the handler
// now; it makes Unsubscribe effective for messages already received.
func (b *Broker) accepts(topic string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.topics[topic]
	return ok && !b.closed.Load()
}

// Publish sends payload to the brokers subscribed to topic. It fails when
// Redis does not answer within ctx or Options.PublishTimeout. The broker need
// not be started.
func (b *Broker) Publish(ctx context.Context, topic string, payload []byte) error {
	if b.closed.Load() {
		return errClosed
	}
	if b.failingFast() {
		return fmt.Errorf("redis: publish %q: %w", topic, ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	var err error
	if b.opts.Sharded {
		err = b.client.SPublish(ctx, b.channel(topic), payload).Err()
	} else {
		err = b.client.Publish(ctx, b.channel(topic), payload).Err()
	}
	if b.published(err) != nil {
		return fmt.Errorf("redis: publish %q: %w", topic, err)
	}
	return nil
}

// failingFast reports whether a publish should fail at once because one
// failed within FailFastFor. After the window, the caller that wins the swap
// tries Redis while the others still fail fast.
func (b *Broker) failingFast() bool {
	failed := b.failedAt.Load()
	if failed == 0 || b.opts.FailFastFor <= 0 {
		return false
	}
	return time.Since(time.Unix(0, failed)) < b.opts.FailFastFor ||
		!b.failedAt.CompareAndSwap(failed, time.Now().UnixNano())
}

// published records the outcome of a publish for failingFast.
func (b *Broker) published(err error) error {
	if err != nil {
		b.failedAt.Store(time.Now().UnixNano())
	} else {
		b.failedAt.Store(0)
	}
	return err
}

// PublishBatch publishes the messages in order in one pipelined round trip,
// with the same timeout and fail-fast window as Publish.
func (b *Broker) PublishBatch(ctx context.Context, msgs []broadcast.Message) error {
	if b.closed.Load() {
		return errClosed
	}
	if len(msgs) == 0 {
		return nil
	}
	if b.failingFast() {
		return fmt.Errorf("redis: publish %d messages: %w", len(msgs), ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.PublishTimeout)
	defer cancel()
	_, err := b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, m := range msgs {
			if b.opts.Sharded {
				p.SPublish(ctx, b.channel(m.Topic), m.Payload)
			} else {
				p.Publish(ctx, b.channel(m.Topic), m.Payload)
			}
		}
		return nil
	})
	if b.published(err) != nil {
		return fmt.Errorf("redis: publish %d messages: %w", len(msgs), err)
	}
	return nil
}

var _ broadcast.BatchPublisher = (*Broker)(nil)

// state checks that the broker is started and not closed.
func (b *Broker) state() error {
	switch {
	case b.closed.Load():
		return errClosed
	case !b.started:
		return errNotStarted
	}
	return nil
}

func (b *Broker) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, b.opts.SubscribeTimeout)
}

// Subscribe subscribes to the topics and returns once Redis has processed
// the subscription, so that a message published after it returns is
// delivered. If it fails (Redis unreachable or refusing, ctx done), the
// topics stay subscribed on the broker's side and are subscribed in Redis as
// soon as the connection is back; call it again to know when, or Unsubscribe
// to give them up.
func (b *Broker) Subscribe(ctx context.Context, topics ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	if err := b.state(); err != nil {
		b.mu.Unlock()
		return err
	}
	var fresh []string // topics this call adds
	for _, t := range topics {
		if _, ok := b.topics[t]; !ok {
			b.topics[t] = struct{}{}
			fresh = append(fresh, t)
		}
	}
	ps := b.ps
	b.mu.Unlock()
	if len(topics) == 0 {
		return nil
	}

	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	chans := b.channels(topics)
	refusals := b.refusals.Load()
	var err error
	if b.opts.Sharded {
		err = ps.SSubscribe(ctx, chans...)
	} else {
		err = ps.Subscribe(ctx, chans...)
	}
	if err == nil {
		err = b.sync(ctx, ps)
	}
	if err == nil && b.refusals.Load() != refusals {
		// Redis answered a command with an error meanwhile, most likely
		// this SUBSCRIBE (an ACL without these channels, say). Forget the
		// topics it added: go-redis would otherwise send them again with
		// the others after every reconnection, and Redis refuse them all.
		b.mu.Lock()
		err = b.refusal
		b.mu.Unlock()
		b.forget(ctx, fresh)
	}
	if err != nil {
		return fmt.Errorf("redis: subscribe %q: %w", topics, err)
	}
	return nil
}

// sync returns once Redis has processed every command sent so far on the
// pub/sub connection: it sends a PING with a unique payload and waits for
// the receiving goroutine to see the answer. If the connection fails
// meanwhile, it pings again on the next one, which go-redis has
// resubscribed before handing it out.
func (b *Broker) sync(ctx context.Context, ps *goredis.PubSub) error {
	token := syncPrefix + strconv.FormatUint(b.seq.Add(1), 10)
	pong := make(chan struct{})
	b.mu.Lock()
	b.waiters[token] = pong
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiters, token)
		b.mu.Unlock()
	}()
	retried := false
	for {
		b.mu.Lock()
		epoch := b.epoch
		b.mu.Unlock()
		if err := ps.Ping(ctx, token); err != nil {
			// A write on a connection that just died fails, and go-redis
			// replaces the connection; try once more on the new one.
			if retried || ctx.Err() != nil {
				return err
			}
			retried = true
			continue
		}
		select {
		case <-pong:
			return nil
		case <-epoch:
			// The connection failed: the PING may be lost. Ping again.
		case <-ctx.Done():
			return ctx.Err()
		case <-b.done:
			return errClosed
		}
	}
}

// Unsubscribe unsubscribes from the topics. It is effective at once: the
// handler sees no message on them from then on, even one already received.
// Redis errors are not reported, as they cannot leave the topics subscribed:
// go-redis replaces a connection on which a write fails, and resubscribes it
// to the remaining topics only.
func (b *Broker) Unsubscribe(ctx context.Context, topics ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	err := b.state()
	b.mu.Unlock()
	if err != nil {
		return err
	}
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	b.forget(ctx, topics)
	return nil
}

// forget unsubscribes from the topics, on the broker's side at once and then
// in Redis, keeping the anchor channel.
func (b *Broker) forget(ctx context.Context, topics []string) {
	b.mu.Lock()
	for _, t := range topics {
		delete(b.topics, t)
	}
	ps := b.ps
	b.mu.Unlock()

	chans := b.channels(topics)
	if b.opts.Sharded {
		anchor := b.channel(anchorTopic)
		chans = slices.DeleteFunc(chans, func(c string) bool { return c == anchor })
	}
	if len(chans) == 0 {
		return
	}
	if b.opts.Sharded {
		_ = ps.SUnsubscribe(ctx, chans...)
	} else {
		_ = ps.Unsubscribe(ctx, chans...)
	}
}

// receive reads the pub/sub connection until Close: messages go to the
// dispatcher, sync PONGs to their waiters. go-redis reconnects and
// resubscribes on the next Receive after a failure; receive only paces the
// attempts.
func (b *Broker) receive() {
	defer b.wg.Done()
	backoff := minBackoff
	lost := false // the connection failed since the last subscription confirmed
	for {
		// The deadline is the health check: the connection is pinged when
		// idle, so a read that times out means a dead connection, and
		// go-redis replaces it (a deadline counts as a bad connection).
		ctx, cancel := context.WithTimeout(context.Background(), 4*b.pingEvery)
		v, err := b.ps.Receive(ctx)
		cancel()
		if err != nil {
			select {
			case <-b.done:
				return
			default:
			}
			if errors.Is(err, goredis.ErrClosed) {
				return // the client was closed under us
			}
			var rerr goredis.Error
			if errors.As(err, &rerr) {
				// An error reply, to a command (the connection is fine).
				b.mu.Lock()
				b.refusal = err
				b.mu.Unlock()
				b.refusals.Add(1)
				continue
			}
			b.mu.Lock()
			close(b.epoch)
			b.epoch = make(chan struct{})
			b.mu.Unlock()
			lost = true
			select {
			case <-b.done:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		b.lastRecv.Store(time.Now().UnixNano())
		if _, ok := v.(*goredis.Subscription); ok && lost {
			// go-redis resubscribes every channel with one command, so its
			// first confirmation means they are all subscribed again.
			lost = false
			b.mu.Lock()
			resume := b.resume
			b.mu.Unlock()
			if resume != nil {
				b.d.PushFunc(resume)
			}
		}
		switch m := v.(type) {
		case *goredis.Message:
			if topic, ok := strings.CutPrefix(m.Channel, b.opts.Prefix); ok {
				b.d.Push(topic, []byte(m.Payload))
			}
		case *goredis.Pong:
			if strings.HasPrefix(m.Payload, syncPrefix) {
				b.mu.Lock()
				if ch, ok := b.waiters[m.Payload]; ok {
					close(ch)
					delete(b.waiters, m.Payload)
				}
				b.mu.Unlock()
			}
		}
	}
}

// keepAlive pings the pub/sub connection when nothing came in for a
// pingEvery, so that receive's deadline only expires on a dead one.
func (b *Broker) keepAlive() {
	defer b.wg.Done()
	t := time.NewTicker(b.pingEvery)
	defer t.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, b.lastRecv.Load())) < b.pingEvery {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.pingEvery)
		_ = b.ps.Ping(ctx)
		cancel()
	}
}

// Close stops receiving, closes the pub/sub connection and waits for the
// broker's goroutines, including a handler call in progress; it must
// therefore not be called from the handler. It closes the client only if Open
// created it. A second Close returns an error wrapping broadcast.ErrClosed.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		return errClosed
	}
	b.closed.Store(true)
	close(b.done)
	clear(b.topics)
	ps, d := b.ps, b.d
	b.mu.Unlock()

	if ps != nil {
		_ = ps.Close() // unblocks receive
	}
	b.wg.Wait()
	if d != nil {
		d.Stop()
	}
	if b.ownsClient {
		if err := b.client.Close(); err != nil {
			return fmt.Errorf("redis: close client: %w", err)
		}
	}
	return nil
}
