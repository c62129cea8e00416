package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lolyjs/realtime/broadcast/redis"
	"github.com/lolyjs/realtime/internal/redistest"
)

// After its pub/sub connection is cut, the broker reconnects, resubscribes,
// and only then calls the OnResume function, on the handler's goroutine: a
// message published once it ran is delivered.
func TestOnResumeAfterReconnection(t *testing.T) {
	// A private server: cutting pub/sub connections must not touch other
	// tests'.
	srv := redistest.StartServer(t)
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer client.Close()
	b, err := redis.New(client, redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make(chan string, 16)
	resumed := make(chan struct{}, 4)
	b.OnResume(func() { resumed <- struct{}{} })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Start(ctx, func(_ string, p []byte) { got <- string(p) }); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-resumed:
		t.Fatal("resumed before any loss")
	default:
	}
	if err := client.ClientKillByFilter(ctx, "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-resumed:
	case <-ctx.Done():
		t.Fatal("OnResume never ran after the pub/sub connection was cut")
	}
	if err := b.Publish(ctx, "t", []byte("after")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "after" {
			t.Fatalf("got %q", p)
		}
	case <-ctx.Done():
		t.Fatal("a message published after the resume was not delivered")
	}
}
