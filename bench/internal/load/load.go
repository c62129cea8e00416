// Package load runs the workloads against a server that is already
// listening: echo (closed-loop request/reply), fanout (a burst of
// broadcasts to one room), paced fanout (broadcasts at a fixed rate,
// timed from send to receipt) and idle (connections that do nothing).
// Every wait is bounded.
package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lolyjs/realtime/bench/internal/client"
	"github.com/lolyjs/realtime/bench/internal/stats"
)

// Room is the room every fanout workload uses.
const Room = "bench"

// dialers bounds how many handshakes are in flight at once.
const dialers = 32

// DialMany opens n connections, spread round-robin over addrs, as users
// prefix0, prefix1...; on error it closes those it opened.
func DialMany(ctx context.Context, p client.Protocol, addrs []string, n int, prefix string) ([]*client.Conn, error) {
	conns := make([]*client.Conn, n)
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	for range min(dialers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := dialRetry(ctx, p, addrs[i%len(addrs)], fmt.Sprintf("%s%d", prefix, i))
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("connection %d: %w", i, err) })
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		CloseAll(conns)
		return nil, firstErr
	}
	return conns, nil
}

// dialRetry retries a refused dial a few times: a server's accept queue can
// overflow while hundreds of handshakes arrive at once.
func dialRetry(ctx context.Context, p client.Protocol, addr, user string) (*client.Conn, error) {
	var err error
	for attempt := range 5 {
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		var c *client.Conn
		c, err = client.Dial(dctx, p, addr, user)
		cancel()
		if err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(50*(attempt+1)) * time.Millisecond):
		}
	}
	return nil, err
}

// CloseAll closes every non-nil connection.
func CloseAll(conns []*client.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// JoinAll puts every connection in room.
func JoinAll(ctx context.Context, conns []*client.Conn, room string) error {
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	for range min(dialers, len(conns)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(conns) {
					return
				}
				jctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				err := conns[i].Join(jctx, room)
				cancel()
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("join %d: %w", i, err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// EchoResult is one echo run.
type EchoResult struct {
	Conns    int
	Duration time.Duration
	Events   int64
	PerSec   float64
	Lat      stats.Latencies
	Errors   int64
}

// Echo runs conns closed loops for warmup plus measure, and reports the
// events answered per second during measure and their round-trip times.
// window, when not nil, is called with the start and end of the measured
// window once the connections are up, so the caller can sample CPU usage
// there.
func Echo(ctx context.Context, p client.Protocol, addr string, conns int, warmup, measure time.Duration, window func(from, to time.Time)) (EchoResult, error) {
	cs, err := DialMany(ctx, p, []string{addr}, conns, "echo")
	if err != nil {
		return EchoResult{}, err
	}
	defer CloseAll(cs)
	from := time.Now().Add(warmup)
	to := from.Add(measure)
	if window != nil {
		window(from, to)
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		if err := c.StartEcho(from, to, wg.Done); err != nil {
			return EchoResult{}, err
		}
	}
	if !waitGroup(&wg, warmup+measure+10*time.Second) {
		return EchoResult{}, errors.New("echo: some replies never came")
	}
	res := EchoResult{Conns: conns, Duration: measure}
	var lat []int64
	for _, c := range cs {
		r := c.EchoResult()
		res.Events += r.Count
		lat = append(lat, r.Lat...)
		res.Errors += c.Errors.Load()
	}
	res.PerSec = float64(res.Events) / measure.Seconds()
	res.Lat = stats.Summarise(lat)
	return res, nil
}

func waitGroup(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// Room is a set of receivers in one room and a publisher, across one or
// more server instances.
type RoomSetup struct {
	Receivers []*client.Conn
	Publisher *client.Conn
	seq       int64
}

// SetupRoom connects n receivers spread over addrs, joins them to Room,
// and connects a publisher (not a member) to addrs[0].
func SetupRoom(ctx context.Context, p client.Protocol, addrs []string, n int) (*RoomSetup, error) {
	cs, err := DialMany(ctx, p, addrs, n, "recv")
	if err != nil {
		return nil, err
	}
	if err := JoinAll(ctx, cs, Room); err != nil {
		CloseAll(cs)
		return nil, err
	}
	pub, err := dialRetry(ctx, p, addrs[0], "publisher")
	if err != nil {
		CloseAll(cs)
		return nil, err
	}
	return &RoomSetup{Receivers: cs, Publisher: pub}, nil
}

// Close closes every connection of the room.
func (r *RoomSetup) Close() {
	CloseAll(r.Receivers)
	r.Publisher.Close()
}

func (r *RoomSetup) delivered() int64 {
	var n int64
	for _, c := range r.Receivers {
		n += c.Delivered.Load()
	}
	return n
}

func (r *RoomSetup) frames() int64 {
	var n int64
	for _, c := range r.Receivers {
		n += c.Frames.Load()
	}
	return n
}

func (r *RoomSetup) errors() int64 {
	n := r.Publisher.Errors.Load()
	for _, c := range r.Receivers {
		n += c.Errors.Load()
	}
	return n
}

// waitDelivered waits until the receivers counted want payloads in all,
// polling, for at most d; it returns the count reached.
func (r *RoomSetup) waitDelivered(want int64, d time.Duration) int64 {
	deadline := time.Now().Add(d)
	for {
		got := r.delivered()
		if got >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(time.Millisecond)
	}
}

// BurstResult is one burst of broadcasts.
type BurstResult struct {
	Sockets, Broadcasts int
	Delivered           int64
	// ToLast is from the first send to the last delivery.
	ToLast time.Duration
	PerSec float64
	// PerFrame is how many deliveries a frame carried on average: 1 for
	// one frame per message, more when the server coalesces.
	PerFrame float64
	Errors   int64
}

// Burst sends k broadcasts back to back and waits for all n*k deliveries.
func (r *RoomSetup) Burst(k int, timeout time.Duration) (BurstResult, error) {
	base := r.delivered()
	errs := r.errors()
	frames := r.frames()
	want := base + int64(k)*int64(len(r.Receivers))
	start := time.Now()
	for range k {
		r.seq++
		if err := r.Publisher.Publish(Room, r.seq); err != nil {
			return BurstResult{}, err
		}
	}
	got := r.waitDelivered(want, timeout)
	var last int64
	for _, c := range r.Receivers {
		last = max(last, c.LastAt.Load())
	}
	res := BurstResult{Sockets: len(r.Receivers), Broadcasts: k, Delivered: got - base, Errors: r.errors() - errs}
	if f := r.frames() - frames; f > 0 {
		res.PerFrame = float64(res.Delivered) / float64(f)
	}
	res.ToLast = time.Duration(last - start.UnixNano())
	if res.ToLast > 0 {
		res.PerSec = float64(res.Delivered) / res.ToLast.Seconds()
	}
	if got < want {
		return res, fmt.Errorf("burst: %d of %d deliveries within %v", got-base, want-base, timeout)
	}
	return res, nil
}

// PacedResult is one paced run.
type PacedResult struct {
	Sockets   int
	Rate      int
	Sent      int
	Delivered int64
	Lat       stats.Latencies
	// Late is how far behind schedule the publisher fell at worst.
	Late   time.Duration
	Errors int64
}

// Paced sends rate broadcasts per second for d and times each delivery from
// the send (the payload's ts) to its receipt.
func (r *RoomSetup) Paced(rate int, d time.Duration, timeout time.Duration) (PacedResult, error) {
	base := r.delivered()
	errs := r.errors()
	n := int(float64(rate) * d.Seconds())
	want := base + int64(n)*int64(len(r.Receivers))
	for _, c := range r.Receivers {
		c.Record(true)
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var late time.Duration
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		} else {
			late = max(late, -wait)
		}
		r.seq++
		if err := r.Publisher.Publish(Room, r.seq); err != nil {
			return PacedResult{}, err
		}
	}
	got := r.waitDelivered(want, timeout)
	var lat []int64
	for _, c := range r.Receivers {
		c.Record(false)
		lat = append(lat, c.Latencies()...)
	}
	res := PacedResult{Sockets: len(r.Receivers), Rate: rate, Sent: n, Delivered: got - base, Lat: stats.Summarise(lat), Late: late, Errors: r.errors() - errs}
	if got < want {
		return res, fmt.Errorf("paced: %d of %d deliveries within %v", got-base, want-base, timeout)
	}
	return res, nil
}

// IdleResult is the memory of idle connections.
type IdleResult struct {
	Conns         int
	Before, After int64 // server resident memory, bytes
	PerConn       float64
	// Inside, when the server can tell (the Go servers): its heap in use,
	// goroutine stacks and goroutines, before and after.
	InsideBefore, InsideAfter Inside
}

// Inside is what a Go server says of its memory.
type Inside struct {
	HeapInuse  int64 `json:"heapInuse"`
	StackInuse int64 `json:"stackInuse"`
	Goroutines int64 `json:"goroutines"`
}

// Idle opens conns connections that then do nothing, and measures the
// server's resident memory before and after; settle runs (collect garbage,
// wait) before each measurement, and inside, when not nil, reads the
// server's own account of its memory.
func Idle(ctx context.Context, p client.Protocol, addr string, conns int, rss func() (int64, error), settle func(), inside func() (Inside, bool)) (IdleResult, error) {
	var res IdleResult
	settle()
	before, err := rss()
	if err != nil {
		return res, err
	}
	if inside != nil {
		res.InsideBefore, _ = inside()
	}
	cs, err := DialMany(ctx, p, []string{addr}, conns, "idle")
	if err != nil {
		return res, err
	}
	defer CloseAll(cs)
	settle()
	after, err := rss()
	if err != nil {
		return res, err
	}
	if inside != nil {
		res.InsideAfter, _ = inside()
	}
	res.Conns, res.Before, res.After, res.PerConn = conns, before, after, float64(after-before)/float64(conns)
	return res, nil
}
