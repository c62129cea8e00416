package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/lolyjs/realtime/history"
	"github.com/lolyjs/realtime/history/historytest"
	hredis "github.com/lolyjs/realtime/history/redis"
	"github.com/lolyjs/realtime/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	historytest.Run(t, func(t *testing.T) historytest.Setup {
		client, prefix := redistest.Client(t)
		log, err := hredis.New(client, hredis.Options{Prefix: prefix, ChannelPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return historytest.Setup{Log: log, Subscribe: func(t *testing.T, topic string) <-chan []byte {
			ps := client.Subscribe(context.Background(), prefix+topic)
			t.Cleanup(func() { _ = ps.Close() })
			if _, err := ps.Receive(context.Background()); err != nil {
				t.Fatal(err)
			}
			ch := make(chan []byte, 1024)
			go func() {
				for m := range ps.Channel() {
					ch <- []byte(m.Payload)
				}
			}()
			return ch
		}}
	})
}

// A Redis that restarts empty loses the epoch: positions from before are
// refused with ErrEpoch, never taken for positions of the new epoch. One
// that persists keeps it, and every message it acknowledged.
func TestRestart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		persist bool
	}{{"empty", false}, {"persistent", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var srv *redistest.Server
			if tc.persist {
				srv = redistest.StartPersistentServer(t)
			} else {
				srv = redistest.StartServer(t)
			}
			client := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
			defer client.Close()
			log, err := hredis.New(client, hredis.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			keep := history.Keep{Size: 10, TTL: time.Minute}
			start, err := log.Last(ctx, "/a")
			if err != nil {
				t.Fatal(err)
			}
			p1, _, err := log.Append(ctx, "/a", "r", []byte("before"), keep, "")
			if err != nil {
				t.Fatal(err)
			}
			srv.Stop()
			srv.Start()
			var p2 history.Position
			for {
				if p2, _, err = log.Append(ctx, "/a", "r", []byte("after"), keep, ""); err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("append after the restart: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			es, err := log.Read(ctx, "/a", "r", start, 0)
			if !tc.persist {
				if p2.Epoch == p1.Epoch || !errors.Is(err, history.ErrEpoch) {
					t.Fatalf("after an empty restart: epochs %q then %q, Read from before: %v; want a new epoch and ErrEpoch", p1.Epoch, p2.Epoch, err)
				}
				return
			}
			if p2.Epoch != p1.Epoch || p2.Seq != p1.Seq+1 || err != nil || len(es) != 2 || string(es[0].Payload) != "before" {
				t.Fatalf("after a persistent restart: %v then %v, Read: %d entries, %v", p1, p2, len(es), err)
			}
		})
	}
}
