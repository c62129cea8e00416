package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lolyjs/realtime/store"
	"github.com/lolyjs/realtime/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return New() })
}

func TestZeroValue(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return new(Store) })
}

// fakeClock lets the sweep tests move time without sleeping.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestSweepReclaimsExpiredKeys(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	s := New()
	s.now = clk.now
	const n = 1000
	for i := range n {
		if err := s.Set(ctx, fmt.Sprint("ttl", i), []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set(ctx, "keep", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(2 * time.Second)
	// Nobody reads the expired keys again; writes to other keys alone must
	// reclaim them.
	for i := 0; len(s.data) > 1; i++ {
		if i > n {
			t.Fatalf("after %d writes, %d keys remain; want 1", i, len(s.data))
		}
		if _, err := s.Incr(ctx, "other", 1); err != nil {
			t.Fatal(err)
		}
		_ = s.Delete(ctx, "other")
	}
	if len(s.expiring) != 0 {
		t.Fatalf("expiring index has %d keys; want 0", len(s.expiring))
	}
	if _, err := s.Get(ctx, "keep"); err != nil {
		t.Fatalf("Get(keep): %v", err)
	}
}

func TestSweepKeepsLiveKeys(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	s := New()
	s.now = clk.now
	for i := range 100 {
		if err := s.Set(ctx, fmt.Sprint("k", i), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	clk.t = clk.t.Add(59 * time.Second)
	for range 100 {
		if err := s.Set(ctx, "other", []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.data) != 101 {
		t.Fatalf("%d keys; want 101", len(s.data))
	}
}

func TestExpiryBoundary(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	s := New()
	s.now = clk.now
	if err := s.Set(ctx, "k", []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Second - time.Nanosecond)
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	clk.t = clk.t.Add(time.Nanosecond)
	if _, err := s.Get(ctx, "k"); err != store.ErrNotFound {
		t.Fatalf("at expiry: err = %v; want ErrNotFound", err)
	}
	if len(s.data) != 0 || len(s.expiring) != 0 {
		t.Fatalf("expired key not removed on access")
	}
}

func TestNegativeTTL(t *testing.T) {
	ctx := context.Background()
	s := New()
	if err := s.Set(ctx, "k", []byte("v"), -time.Second); err == nil {
		t.Fatal("Set with negative ttl: want an error")
	}
	if err := s.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expire(ctx, "k", -time.Second); err == nil {
		t.Fatal("Expire with negative ttl: want an error")
	}
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Fatalf("key changed by a failed Expire: %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	s := New()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err == nil {
		t.Fatal("second Close: want an error")
	}
}

func TestListTrimReleasesDropped(t *testing.T) {
	ctx := context.Background()
	s := New()
	for i := range 1000 {
		if _, err := s.ListPush(ctx, "l", 10, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	// The backing array must not grow with the number of pushes.
	if c := cap(s.data["l"].list); c > 64 {
		t.Fatalf("list capacity %d after 1000 pushes with maxLen 10", c)
	}
}
