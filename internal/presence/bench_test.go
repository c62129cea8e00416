package presence

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/store"
	sredis "github.com/lolyjs/realtime/store/redis"
)

// The cost, on a real Redis, of deciding race-free whether a user's join
// or leave on one instance is the first or last one cluster-wide: with a
// roster (one script), and with what the presence sets alone would need, a
// per-room lock around a write to the instance's set and a read of every
// instance's set (2 instances, 100 users in the room). Each op is one join
// and one leave; the parallel runs put 8 goroutines on one room.
//
//	go test -run XXX -bench Transition -benchtime 2000x ./internal/presence

func benchStore(b *testing.B) *sredis.Store {
	client, prefix := redistest.Client(b)
	st, err := sredis.New(client, sredis.Options{Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		keys, _ := client.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			client.Del(context.Background(), keys...)
		}
	})
	return st
}

func BenchmarkTransitionRoster(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	runTransitions(b, func(u string, join bool) error {
		var err error
		if join {
			_, err = st.RosterAdd(ctx, "roster", "h1", u)
		} else {
			_, err = st.RosterRemove(ctx, "roster", "h1", u)
		}
		return err
	})
}

// runTransitions runs join and leave pairs of distinct users one at a
// time, then from 8 goroutines at once.
func runTransitions(b *testing.B, transition func(u string, join bool) error) {
	var n atomic.Int64
	pair := func() {
		u := "u" + strconv.FormatInt(n.Add(1), 10)
		if err := transition(u, true); err != nil {
			b.Fatal(err)
		}
		if err := transition(u, false); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			pair()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				pair()
			}
		})
	})
}

func BenchmarkTransitionLockedSets(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	others := make([]string, 100)
	for i := range others {
		others[i] = "o" + strconv.Itoa(i)
	}
	if _, err := st.SetAdd(ctx, "instances", "i1", "i2"); err != nil {
		b.Fatal(err)
	}
	for _, id := range []string{"i1", "i2"} {
		if err := st.Set(ctx, "alive:"+id, []byte("x"), time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := st.SetAdd(ctx, "room:i2", others...); err != nil {
		b.Fatal(err)
	}
	transition := func(u string, join bool) error {
		for {
			n, err := st.Incr(ctx, "lock", 1)
			if err != nil {
				return err
			}
			if n == 1 {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		if _, err := st.Expire(ctx, "lock", time.Second); err != nil {
			return err
		}
		var err error
		if join {
			_, err = st.SetAdd(ctx, "room:i1", u)
		} else {
			_, err = st.SetRemove(ctx, "room:i1", u)
		}
		if err != nil {
			return err
		}
		ids, err := st.SetMembers(ctx, "instances")
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := st.Get(ctx, "alive:"+id); err != nil && err != store.ErrNotFound {
				return err
			}
			users, err := st.SetMembers(ctx, "room:"+id)
			if err != nil {
				return err
			}
			_ = slices.Contains(users, u)
		}
		return st.Delete(ctx, "lock")
	}
	runTransitions(b, transition)
}
