// Package broadcasttest is the conformance suite for broadcast.Broker
// implementations: Run checks, against real brokers, each behaviour the
// Broker interface requires (delivery, ordering, subscription timing, Close).
//
// It is for the tests of an implementation's package. It does not check what
// depends on the backend (an outage and the broker's recovery, which each
// implementation tests its own way) nor goroutine leaks (run
// goleak.VerifyTestMain in the implementing package's TestMain).
package broadcasttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lolyjs/realtime/broadcast"
)

const (
	// deliveryTimeout bounds every wait for something that must happen.
	deliveryTimeout = 5 * time.Second
	// quietPeriod is how long to wait for something that must not happen.
	quietPeriod = 200 * time.Millisecond
	// opTimeout bounds each call to a Broker method.
	opTimeout = 5 * time.Second
)

// Run runs the conformance suite. newCluster is called once per subtest and
// returns a factory; every broker the factory returns must belong to one
// cluster (share one bus), fresh and not yet started, and nothing else may
// publish on that bus. The suite starts and closes the brokers itself.
// Subtests run in parallel.
func Run(t *testing.T, newCluster func(t *testing.T) func() broadcast.Broker) {
	tests := []struct {
		name string
		fn   func(t *testing.T, c *cluster)
	}{
		{"DeliversToEverySubscriberOnce", testDeliversToEverySubscriberOnce},
		{"PayloadUnchanged", testPayloadUnchanged},
		{"PayloadOwnership", testPayloadOwnership},
		{"NotDeliveredToOthers", testNotDeliveredToOthers},
		{"PublisherOrder", testPublisherOrder},
		{"SubscribeEffectiveOnReturn", testSubscribeEffectiveOnReturn},
		{"UnsubscribeEffectiveOnReturn", testUnsubscribeEffectiveOnReturn},
		{"DoubleSubscribe", testDoubleSubscribe},
		{"MultipleTopics", testMultipleTopics},
		{"HandlerMayUseBroker", testHandlerMayUseBroker},
		{"Concurrent", testConcurrent},
		{"Close", testClose},
		{"CloseWhileReceiving", testCloseWhileReceiving},
		{"StartTwice", testStartTwice},
		{"PublishBatch", testPublishBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, &cluster{t: t, factory: newCluster(t)})
		})
	}
}

type cluster struct {
	t       *testing.T
	factory func() broadcast.Broker
}

// node is a started broker and the messages its handler received.
type node struct {
	t    *testing.T
	name string
	b    broadcast.Broker

	mu      sync.Mutex
	got     []message
	changed chan struct{} // closed and replaced at every message

	inHandler  atomic.Int32
	overlapped atomic.Bool // two handler calls ran at once
	closedAt   atomic.Int64
	lateCalls  atomic.Int64 // handler calls that started after Close returned

	hook func(n *node, m message) // called after recording, on the handler goroutine
}

type message struct {
	topic   string
	payload []byte
}

// start returns a started broker of the cluster, closed when the test ends.
func (c *cluster) start(name string) *node {
	return c.startWith(name, nil)
}

func (c *cluster) startWith(name string, hook func(*node, message)) *node {
	t := c.t
	t.Helper()
	n := &node{t: t, name: name, b: c.factory(), changed: make(chan struct{}), hook: hook}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := n.b.Start(ctx, n.handle); err != nil {
		t.Fatalf("%s: Start: %v", name, err)
	}
	t.Cleanup(func() {
		_ = n.b.Close()
		if n.overlapped.Load() {
			t.Errorf("%s: handler calls overlapped: they must come from one goroutine", name)
		}
		if k := n.lateCalls.Load(); k > 0 {
			t.Errorf("%s: handler called %d times after Close returned", name, k)
		}
	})
	return n
}

func (n *node) handle(topic string, payload []byte) {
	if n.inHandler.Add(1) > 1 {
		n.overlapped.Store(true)
	}
	defer n.inHandler.Add(-1)
	if n.closedAt.Load() != 0 {
		n.lateCalls.Add(1)
	}
	m := message{topic: topic, payload: bytes.Clone(payload)}
	// Scribble over the payload, which belongs to this handler: if the
	// broker shared it with another handler or kept it, that one would see
	// the damage (and the race detector a data race).
	for i := range payload {
		payload[i] = 0xA5
	}
	n.mu.Lock()
	n.got = append(n.got, m)
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
	if n.hook != nil {
		n.hook(n, m)
	}
}

// close closes the broker and records when, so later handler calls show.
func (n *node) close() error {
	err := n.b.Close()
	n.closedAt.Store(time.Now().UnixNano())
	return err
}

func ctxOp() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

func (n *node) subscribe(topics ...string) {
	n.t.Helper()
	ctx, cancel := ctxOp()
	defer cancel()
	if err := n.b.Subscribe(ctx, topics...); err != nil {
		n.t.Fatalf("%s: Subscribe(%q): %v", n.name, topics, err)
	}
}

func (n *node) unsubscribe(topics ...string) {
	n.t.Helper()
	ctx, cancel := ctxOp()
	defer cancel()
	if err := n.b.Unsubscribe(ctx, topics...); err != nil {
		n.t.Fatalf("%s: Unsubscribe(%q): %v", n.name, topics, err)
	}
}

func (n *node) publish(topic string, payload []byte) {
	n.t.Helper()
	ctx, cancel := ctxOp()
	defer cancel()
	if err := n.b.Publish(ctx, topic, payload); err != nil {
		n.t.Fatalf("%s: Publish(%q): %v", n.name, topic, err)
	}
}

// messages returns a copy of what the node received so far.
func (n *node) messages() []message {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]message(nil), n.got...)
}

// count returns how many messages with topic and payload the node received.
func (n *node) count(topic string, payload []byte) int {
	k := 0
	for _, m := range n.messages() {
		if m.topic == topic && bytes.Equal(m.payload, payload) {
			k++
		}
	}
	return k
}

// waitUntil waits until cond holds for the received messages, failing the
// test after deliveryTimeout.
func (n *node) waitUntil(what string, cond func([]message) bool) {
	n.t.Helper()
	deadline := time.NewTimer(deliveryTimeout)
	defer deadline.Stop()
	for {
		n.mu.Lock()
		ok := cond(n.got)
		changed := n.changed
		n.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			n.t.Fatalf("%s: timed out after %v waiting for %s; got %s", n.name, deliveryTimeout, what, summary(n.messages()))
		}
	}
}

// waitFor waits until the node received a message with topic and payload.
func (n *node) waitFor(topic string, payload []byte) {
	n.t.Helper()
	n.waitUntil(fmt.Sprintf("%q on %q", short(payload), topic), func(ms []message) bool {
		for _, m := range ms {
			if m.topic == topic && bytes.Equal(m.payload, payload) {
				return true
			}
		}
		return false
	})
}

// expectOnce checks that each node got topic/payload exactly once, waiting
// quietPeriod for duplicates first.
func expectOnce(t *testing.T, topic string, payload []byte, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		n.waitFor(topic, payload)
	}
	time.Sleep(quietPeriod)
	for _, n := range nodes {
		if k := n.count(topic, payload); k != 1 {
			t.Errorf("%s: got %q on %q %d times, want once", n.name, short(payload), topic, k)
		}
	}
}

// expectNone checks that none of the nodes got anything on topic, after
// quietPeriod.
func expectNone(t *testing.T, topic string, nodes ...*node) {
	t.Helper()
	time.Sleep(quietPeriod)
	for _, n := range nodes {
		for _, m := range n.messages() {
			if m.topic == topic {
				t.Errorf("%s: got %q on %q, want nothing on that topic", n.name, short(m.payload), topic)
			}
		}
	}
}

func short(p []byte) string {
	if len(p) > 40 {
		return fmt.Sprintf("%q...(%d bytes)", p[:40], len(p))
	}
	return strconv.Quote(string(p))
}

func summary(ms []message) string {
	if len(ms) == 0 {
		return "nothing"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d messages:", len(ms))
	for i, m := range ms {
		if i == 10 {
			sb.WriteString(" ...")
			break
		}
		fmt.Fprintf(&sb, " %s=%s", m.topic, short(m.payload))
	}
	return sb.String()
}

func testDeliversToEverySubscriberOnce(t *testing.T, c *cluster) {
	a, b, x := c.start("A"), c.start("B"), c.start("C")
	a.subscribe("news")
	b.subscribe("news")
	x.subscribe("other")
	a.publish("news", []byte("hello"))
	expectOnce(t, "news", []byte("hello"), a, b)
	// A broker that is not subscribed can publish too.
	x.publish("news", []byte("from C"))
	expectOnce(t, "news", []byte("from C"), a, b)
	expectNone(t, "news", x)
}

func testPayloadUnchanged(t *testing.T, c *cluster) {
	a, b := c.start("A"), c.start("B")
	a.subscribe("bin")
	b.subscribe("bin")
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	payloads := [][]byte{
		[]byte("plain"),
		{},
		{0},
		[]byte("\n"),
		[]byte("line1\nline2\r\n\r\n"),
		[]byte("nul\x00inside\x00"),
		[]byte("$5\r\nhello\r\n*3\r\n"), // looks like RESP
		{0xff, 0xfe, 0xc0, 0x80},        // not UTF-8
		[]byte("héllo, 世界 🚀"),
		all,
		big,
	}
	for i, p := range payloads {
		// Tag each payload by its topic so empty and repeated ones are told apart.
		topic := "bin"
		if i > 0 {
			topic = "bin" + strconv.Itoa(i)
			a.subscribe(topic)
			b.subscribe(topic)
		}
		a.publish(topic, p)
		a.waitFor(topic, p)
		b.waitFor(topic, p)
	}
	time.Sleep(quietPeriod)
	for _, n := range []*node{a, b} {
		if got := len(n.messages()); got != len(payloads) {
			t.Errorf("%s: got %d messages, want %d: %s", n.name, got, len(payloads), summary(n.messages()))
		}
	}
}

func testPayloadOwnership(t *testing.T, c *cluster) {
	a, b := c.start("A"), c.start("B")
	a.subscribe("own")
	b.subscribe("own")
	want := []byte("original payload")
	buf := bytes.Clone(want)
	a.publish("own", buf)
	// The publisher may reuse its buffer once Publish returns.
	copy(buf, "XXXXXXXXXXXXXXXX")
	expectOnce(t, "own", want, a, b)
	// Handlers scribble over their payloads (see node.handle): a payload
	// shared between the two would have reached one of them damaged.
}

func testNotDeliveredToOthers(t *testing.T, c *cluster) {
	a, b, x := c.start("A"), c.start("B"), c.start("C")
	a.subscribe("t1")
	b.subscribe("t2")
	// x subscribes to nothing.
	a.publish("t1", []byte("one"))
	b.publish("t2", []byte("two"))
	a.waitFor("t1", []byte("one"))
	b.waitFor("t2", []byte("two"))
	expectNone(t, "t1", b, x)
	expectNone(t, "t2", a, x)
}

func testPublisherOrder(t *testing.T, c *cluster) {
	const n = 500
	a, b, x := c.start("A"), c.start("B"), c.start("C")
	for _, nd := range []*node{a, b, x} {
		nd.subscribe("seq")
	}
	// Two publishers at once: each one's messages must arrive in its order,
	// whatever the interleaving.
	var wg sync.WaitGroup
	for _, p := range []*node{a, b} {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 4*opTimeout)
			defer cancel()
			for i := range n {
				if err := p.b.Publish(ctx, "seq", []byte(p.name+":"+strconv.Itoa(i))); err != nil {
					t.Errorf("%s: Publish #%d: %v", p.name, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, nd := range []*node{a, b, x} {
		nd.waitUntil(fmt.Sprintf("%d messages", 2*n), func(ms []message) bool { return len(ms) >= 2*n })
		next := map[string]int{"A": 0, "B": 0}
		for _, m := range nd.messages() {
			from, num, ok := strings.Cut(string(m.payload), ":")
			i, err := strconv.Atoi(num)
			if !ok || err != nil || m.topic != "seq" {
				t.Fatalf("%s: unexpected message %q on %q", nd.name, m.payload, m.topic)
			}
			if i != next[from] {
				t.Fatalf("%s: from %s got #%d, want #%d", nd.name, from, i, next[from])
			}
			next[from]++
		}
		if next["A"] != n || next["B"] != n {
			t.Errorf("%s: got %d from A and %d from B, want %d each", nd.name, next["A"], next["B"], n)
		}
	}
}

func testSubscribeEffectiveOnReturn(t *testing.T, c *cluster) {
	a, b := c.start("A"), c.start("B")
	// Repeat on fresh topics, from several goroutines at once: a Subscribe
	// that returns before the backend has registered it loses the message
	// published right after it, sometimes.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				topic := fmt.Sprintf("sub%d-%d", g, i)
				ctx, cancel := ctxOp()
				err := b.b.Subscribe(ctx, topic)
				if err == nil {
					err = a.b.Publish(ctx, topic, []byte("m"))
				}
				cancel()
				if err != nil {
					t.Errorf("%s: %v", topic, err)
					return
				}
				if !b.await(topic, []byte("m")) {
					t.Errorf("B: no message on %q, published after Subscribe returned", topic)
					return
				}
			}
		})
	}
	wg.Wait()
	// The publisher's own subscription too.
	a.subscribe("self")
	a.publish("self", []byte("me"))
	a.waitFor("self", []byte("me"))
}

func testUnsubscribeEffectiveOnReturn(t *testing.T, c *cluster) {
	a, b := c.start("A"), c.start("B")
	for i := range 10 {
		topic := "unsub" + strconv.Itoa(i)
		a.subscribe(topic)
		b.subscribe(topic)
		a.publish(topic, []byte("before"))
		b.waitFor(topic, []byte("before"))
		b.unsubscribe(topic)
		a.publish(topic, []byte("after"))
		// A still gets it, so it was published; B must not.
		a.waitFor(topic, []byte("after"))
	}
	time.Sleep(quietPeriod)
	for i := range 10 {
		topic := "unsub" + strconv.Itoa(i)
		if k := b.count(topic, []byte("after")); k != 0 {
			t.Errorf("B: got a message on %q published after Unsubscribe returned", topic)
		}
		if k := b.count(topic, []byte("before")); k != 1 {
			t.Errorf("B: got %q on %q %d times, want once", "before", topic, k)
		}
	}
	// Unsubscribing from a topic one never subscribed to is not an error.
	b.unsubscribe("never-subscribed")
}

func testDoubleSubscribe(t *testing.T, c *cluster) {
	a, b := c.start("A"), c.start("B")
	b.subscribe("dup")
	b.subscribe("dup")
	b.subscribe("dup2", "dup2")
	a.publish("dup", []byte("1"))
	a.publish("dup2", []byte("2"))
	expectOnce(t, "dup", []byte("1"), b)
	expectOnce(t, "dup2", []byte("2"), b)
	// One Unsubscribe undoes both.
	b.unsubscribe("dup", "dup2")
	a.subscribe("dup", "dup2")
	a.publish("dup", []byte("3"))
	a.publish("dup2", []byte("4"))
	a.waitFor("dup", []byte("3"))
	a.waitFor("dup2", []byte("4"))
	time.Sleep(quietPeriod)
	if k := b.count("dup", []byte("3")) + b.count("dup2", []byte("4")); k != 0 {
		t.Errorf("B: still receiving after one Unsubscribe of a topic subscribed twice")
	}
}

func testMultipleTopics(t *testing.T, c *cluster) {
	a, b := c.start("A"), c.start("B")
	topics := []string{"m1", "m2", "m3"}
	b.subscribe(topics...)
	a.subscribe(topics...)
	for _, tp := range topics {
		a.publish(tp, []byte("x-"+tp))
	}
	for _, tp := range topics {
		expectOnce(t, tp, []byte("x-"+tp), b)
	}
	b.unsubscribe("m1", "m2")
	for _, tp := range topics {
		a.publish(tp, []byte("y-"+tp))
		a.waitFor(tp, []byte("y-"+tp))
	}
	b.waitFor("m3", []byte("y-m3"))
	time.Sleep(quietPeriod)
	for _, tp := range []string{"m1", "m2"} {
		if k := b.count(tp, []byte("y-"+tp)); k != 0 {
			t.Errorf("B: got a message on %q after unsubscribing from it", tp)
		}
	}
	// Empty lists are no-ops.
	b.subscribe()
	b.unsubscribe()
}

func testHandlerMayUseBroker(t *testing.T, c *cluster) {
	// B's handler answers each "ping" by publishing a "pong", subscribing to
	// and unsubscribing from a topic on the way; its own subscription to
	// "ping" makes it receive what it publishes there, so it also publishes
	// from inside its handler to itself. None of this may deadlock.
	var hookErr atomic.Value
	b := c.startWith("B", func(n *node, m message) {
		if m.topic != "ping" {
			return
		}
		ctx, cancel := ctxOp()
		defer cancel()
		err := n.b.Subscribe(ctx, "scratch")
		if err == nil {
			err = n.b.Unsubscribe(ctx, "scratch")
		}
		if err == nil {
			err = n.b.Publish(ctx, "pong", m.payload)
		}
		if i, _ := strconv.Atoi(string(m.payload)); err == nil && i < 20 {
			err = n.b.Publish(ctx, "ping", []byte(strconv.Itoa(i+1)))
		}
		if err != nil {
			hookErr.CompareAndSwap(nil, err)
		}
	})
	a := c.start("A")
	a.subscribe("pong")
	b.subscribe("ping")
	a.publish("ping", []byte("0"))
	a.waitUntil("20 pongs", func(ms []message) bool { return len(ms) >= 21 })
	if err := hookErr.Load(); err != nil {
		t.Fatalf("B: broker call from the handler failed: %v", err)
	}
	for i, m := range a.messages() {
		if m.topic != "pong" || string(m.payload) != strconv.Itoa(i) {
			t.Fatalf("A: message %d is %q on %q, want %q on pong", i, m.payload, m.topic, strconv.Itoa(i))
		}
	}
}

func testConcurrent(t *testing.T, c *cluster) {
	a, b := c.start("A"), c.start("B")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5 {
				topic := fmt.Sprintf("c%d-%d", g, i)
				payload := []byte(topic)
				ctx, cancel := ctxOp()
				err := b.b.Subscribe(ctx, topic)
				if err == nil {
					err = a.b.Publish(ctx, topic, payload)
				}
				cancel()
				if err != nil {
					t.Errorf("%s: %v", topic, err)
					return
				}
				if !b.await(topic, payload) {
					t.Errorf("B: no message on %q", topic)
					return
				}
				ctx, cancel = ctxOp()
				err = b.b.Unsubscribe(ctx, topic)
				cancel()
				if err != nil {
					t.Errorf("%s: Unsubscribe: %v", topic, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// await is waitFor for other goroutines than the test's: it reports instead
// of failing.
func (n *node) await(topic string, payload []byte) bool {
	deadline := time.NewTimer(deliveryTimeout)
	defer deadline.Stop()
	for {
		n.mu.Lock()
		changed := n.changed
		n.mu.Unlock()
		if n.count(topic, payload) > 0 {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

func testClose(t *testing.T, c *cluster) {
	a, b := c.start("A"), c.start("B")
	a.subscribe("t")
	b.subscribe("t")
	a.publish("t", []byte("before"))
	b.waitFor("t", []byte("before"))
	if err := b.close(); err != nil {
		t.Fatalf("B: Close: %v", err)
	}
	a.publish("t", []byte("after"))
	a.waitFor("t", []byte("after"))
	time.Sleep(quietPeriod) // lets "after" reach B, if it wrongly can
	if k := b.count("t", []byte("after")); k != 0 {
		t.Errorf("B: handler called after Close")
	}

	ctx, cancel := ctxOp()
	defer cancel()
	checkClosed := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("B: %s after Close succeeded, want an error", what)
		} else if !errors.Is(err, broadcast.ErrClosed) {
			t.Errorf("B: %s after Close: %v, want an error wrapping broadcast.ErrClosed", what, err)
		}
	}
	checkClosed("Publish", b.b.Publish(ctx, "t", []byte("x")))
	checkClosed("Subscribe", b.b.Subscribe(ctx, "u"))
	checkClosed("Unsubscribe", b.b.Unsubscribe(ctx, "t"))
	checkClosed("Start", b.b.Start(ctx, func(string, []byte) {}))
	checkClosed("second Close", b.b.Close())

	// The rest of the cluster is unaffected.
	a.publish("t", []byte("still"))
	a.waitFor("t", []byte("still"))

	// A broker closed without being started.
	x := c.factory()
	if err := x.Close(); err != nil {
		t.Errorf("Close of a broker never started: %v", err)
	}
}

func testCloseWhileReceiving(t *testing.T, c *cluster) {
	a := c.start("A")
	b := c.startWith("B", func(*node, message) { time.Sleep(time.Millisecond) })
	b.subscribe("flood")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := ctxOp()
			err := a.b.Publish(ctx, "flood", []byte(strconv.Itoa(i)))
			cancel()
			if err != nil {
				t.Errorf("A: Publish: %v", err)
				return
			}
		}
	})
	b.waitUntil("some messages", func(ms []message) bool { return len(ms) >= 5 })
	if err := b.close(); err != nil {
		t.Errorf("B: Close: %v", err)
	}
	// Handler calls after Close returned are counted by node.handle and
	// reported at cleanup.
	time.Sleep(quietPeriod)
	close(stop)
	wg.Wait()
}

func testStartTwice(t *testing.T, c *cluster) {
	a := c.start("A")
	ctx, cancel := ctxOp()
	defer cancel()
	if err := a.b.Start(ctx, func(string, []byte) {}); err == nil {
		t.Errorf("second Start succeeded, want an error")
	}
	// The first handler is still the one called.
	a.subscribe("t")
	a.publish("t", []byte("x"))
	a.waitFor("t", []byte("x"))
}

// testPublishBatch checks a broker that is also a broadcast.BatchPublisher:
// batched messages reach every subscriber once, in order, on their topics.
func testPublishBatch(t *testing.T, c *cluster) {
	a, b := c.start("A"), c.start("B")
	bp, ok := a.b.(broadcast.BatchPublisher)
	if !ok {
		t.Skip("not a BatchPublisher")
	}
	b.subscribe("even", "odd")
	const n = 300
	msgs := make([]broadcast.Message, n)
	for i := range msgs {
		topic := "even"
		if i%2 == 1 {
			topic = "odd"
		}
		msgs[i] = broadcast.Message{Topic: topic, Payload: []byte(strconv.Itoa(i))}
	}
	ctx, cancel := ctxOp()
	defer cancel()
	if err := bp.PublishBatch(ctx, msgs); err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}
	if err := bp.PublishBatch(ctx, nil); err != nil {
		t.Fatalf("PublishBatch of nothing: %v", err)
	}
	b.waitUntil(fmt.Sprintf("%d messages", n), func(ms []message) bool { return len(ms) >= n })
	for i, m := range b.messages() {
		if string(m.payload) != strconv.Itoa(i) || m.topic != msgs[i].Topic {
			t.Fatalf("message %d: %q on %q, want %q on %q", i, m.payload, m.topic, msgs[i].Payload, msgs[i].Topic)
		}
	}
	expectNone(t, "even", a)
}
