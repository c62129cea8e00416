package store_test

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/store"
	"github.com/lolyjs/realtime/store/memory"
	sredis "github.com/lolyjs/realtime/store/redis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Counter reads what Incr wrote, on both stores: 0 for a missing key, the
// value after increments, ErrWrongType for a value that is not a counter.
func TestCounter(t *testing.T) {
	client, prefix := redistest.Client(t)
	rs, err := sredis.New(client, sredis.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ms := memory.New()
	for name, st := range map[string]store.Store{"memory": ms, "redis": rs} {
		t.Run(name, func(t *testing.T) {
			defer st.Close()
			ctx := context.Background()
			if n, err := store.Counter(ctx, st, "c"); n != 0 || err != nil {
				t.Fatalf("missing counter: %d, %v", n, err)
			}
			if _, err := st.Incr(ctx, "c", 5); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Incr(ctx, "c", -2); err != nil {
				t.Fatal(err)
			}
			if n, err := store.Counter(ctx, st, "c"); n != 3 || err != nil {
				t.Fatalf("counter after +5 -2: %d, %v", n, err)
			}
			if err := st.Set(ctx, "s", []byte("hello"), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := store.Counter(ctx, st, "s"); !errors.Is(err, store.ErrWrongType) {
				t.Fatalf("a string read as a counter: %v, want ErrWrongType", err)
			}
		})
	}
}
