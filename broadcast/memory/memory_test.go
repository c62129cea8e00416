package memory_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lolyjs/realtime/broadcast"
	"github.com/lolyjs/realtime/broadcast/broadcasttest"
	"github.com/lolyjs/realtime/broadcast/memory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	broadcasttest.Run(t, func(t *testing.T) func() broadcast.Broker {
		hub := memory.NewHub()
		return func() broadcast.Broker { return hub.Broker() }
	})
}

// Brokers from different hubs, and from New, are separate clusters.
func TestHubsAreSeparate(t *testing.T) {
	ctx := context.Background()
	got := make(chan string, 10)
	start := func(b *memory.Broker, name string) {
		t.Helper()
		if err := b.Start(ctx, func(topic string, _ []byte) { got <- name }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		if err := b.Subscribe(ctx, "t"); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c := memory.NewHub().Broker(), memory.NewHub().Broker(), memory.New()
	start(a, "a")
	start(b, "b")
	start(c, "c")
	if err := a.Publish(ctx, "t", []byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != "a" {
			t.Fatalf("%s's handler called, want a's", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a's handler not called")
	}
	select {
	case n := <-got:
		t.Fatalf("%s's handler called: it is on another hub", n)
	case <-time.After(200 * time.Millisecond):
	}
}
