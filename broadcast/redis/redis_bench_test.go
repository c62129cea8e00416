package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/lolyjs/realtime/broadcast/redis"
	"github.com/lolyjs/realtime/internal/redistest"
)

// BenchmarkPublishRoundTrip is one message from a broker's Publish to the
// handler of another broker subscribed to the topic, through Redis pub/sub:
// the latency a cross-instance emit adds, and the brokers' allocations
// (both ends, and go-redis's). It needs a Redis (REDIS_URL, default
// 127.0.0.1:6379) and is skipped without one.
func BenchmarkPublishRoundTrip(b *testing.B) {
	ctx := context.Background()
	prefix := redistest.Prefix(b)
	newBroker := func(h func(string, []byte)) *redis.Broker {
		c, _ := redistest.Client(b)
		br, err := redis.New(c, redis.Options{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		if err := br.Start(ctx, h); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = br.Close() })
		return br
	}
	got := make(chan struct{}, 1)
	pub := newBroker(func(string, []byte) {})
	sub := newBroker(func(string, []byte) { got <- struct{}{} })
	if err := sub.Subscribe(ctx, "room:/:lobby"); err != nil {
		b.Fatal(err)
	}
	payload := []byte("instance-a\n\n" + `{"event":"chat:message","data":{"from":"u1","room":"lobby","text":"a fanout message of a typical chat size"}}`)
	timeout := time.After(2 * time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if err := pub.Publish(ctx, "room:/:lobby", payload); err != nil {
			b.Fatal(err)
		}
		select {
		case <-got:
		case <-timeout:
			b.Fatal("a published message never arrived")
		}
	}
}
