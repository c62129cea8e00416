package memory_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	bmemory "github.com/lolyjs/realtime/broadcast/memory"
	"github.com/lolyjs/realtime/history/historytest"
	"github.com/lolyjs/realtime/history/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	historytest.Run(t, func(t *testing.T) historytest.Setup {
		hub := bmemory.NewHub()
		pub := hub.Broker()
		t.Cleanup(func() { _ = pub.Close() })
		return historytest.Setup{
			Log: memory.New(pub),
			Subscribe: func(t *testing.T, topic string) <-chan []byte {
				sub := hub.Broker()
				t.Cleanup(func() { _ = sub.Close() })
				ch := make(chan []byte, 1024)
				if err := sub.Start(context.Background(), func(_ string, p []byte) { ch <- p }); err != nil {
					t.Fatal(err)
				}
				if err := sub.Subscribe(context.Background(), topic); err != nil {
					t.Fatal(err)
				}
				return ch
			},
		}
	})
}
