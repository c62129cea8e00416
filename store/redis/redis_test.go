package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/lolyjs/realtime/internal/redistest"
	"github.com/lolyjs/realtime/store"
	"github.com/lolyjs/realtime/store/redis"
	"github.com/lolyjs/realtime/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newStore returns a Store on the shared test Redis whose keys live under a
// prefix unique to t, and deletes those keys when t ends.
func newStore(t *testing.T) store.Store {
	client, prefix := redistest.Client(t)
	s, err := redis.New(client, redis.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	// Registered after redistest.Client's cleanup, so it runs before the
	// client is closed.
	t.Cleanup(func() { deleteByPrefix(t, client, prefix) })
	return s
}

func deleteByPrefix(t *testing.T, client goredis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := client.Scan(ctx, 0, globEscape(prefix)+"*", 100).Iterator()
	for iter.Next(ctx) {
		client.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("cleaning up keys %q*: %v", prefix, err)
	}
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\^`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestConformance(t *testing.T) {
	// Check for Redis once, so that without it the test skips (or fails)
	// in one go instead of waiting for a ping in every subtest.
	redistest.Client(t)
	storetest.Run(t, newStore)
}

func TestKeysArePrefixed(t *testing.T) {
	client, prefix := redistest.Client(t)
	s, err := redis.New(client, redis.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer deleteByPrefix(t, client, prefix)
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := client.Get(ctx, prefix+"k").Result(); err != nil || got != "v" {
		t.Fatalf("GET %sk = %q, %v; want %q", prefix, got, err, "v")
	}
}

func TestDefaultPrefix(t *testing.T) {
	client, prefix := redistest.Client(t)
	s, err := redis.New(client, redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// The default prefix is shared by every test run, so the key is made
	// unique with the test's own prefix and removed at once.
	key := prefix + "default"
	if err := s.Set(ctx, key, []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	defer client.Del(context.Background(), redis.DefaultPrefix+key)
	if got, err := client.Get(ctx, redis.DefaultPrefix+key).Result(); err != nil || got != "v" {
		t.Fatalf("GET %s%s = %q, %v; want %q", redis.DefaultPrefix, key, got, err, "v")
	}
}

func TestNewNilClient(t *testing.T) {
	if _, err := redis.New(nil, redis.Options{}); err == nil {
		t.Fatal("New(nil): want an error")
	}
}

func TestOpen(t *testing.T) {
	redistest.Client(t) // skips or fails the test when Redis is missing
	prefix := redistest.Prefix(t)
	s, err := redis.Open(redistest.URL(), redis.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	n, err := s.Incr(ctx, "n", 2)
	if err != nil || n != 2 {
		t.Fatalf("Incr = %d, %v; want 2", n, err)
	}
	if err := s.Delete(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	// Close must close the client Open made; goleak in TestMain catches
	// the pool's goroutines otherwise.
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err == nil {
		t.Fatal("second Close: want an error")
	}
}

func TestOpenBadURL(t *testing.T) {
	if _, err := redis.Open("http://nope", redis.Options{}); err == nil {
		t.Fatal("Open with a bad URL: want an error")
	}
}

func TestCloseKeepsCallersClient(t *testing.T) {
	client, prefix := redistest.Client(t)
	s, err := redis.New(client, redis.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := client.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("client unusable after Store.Close: %v", err)
	}
}

func TestWrongTypeKeepsCause(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	if err := s.Set(ctx, "str", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	_, err := s.ListPush(ctx, "str", 3, []byte("v"))
	var rerr goredis.Error
	if !errors.Is(err, store.ErrWrongType) || !errors.As(err, &rerr) {
		t.Fatalf("ListPush on a string: err = %v; want store.ErrWrongType wrapping the Redis error", err)
	}
}

func TestNegativeTTL(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v"), -time.Second); err == nil {
		t.Fatal("Set with negative ttl: want an error")
	}
	if _, err := s.Expire(ctx, "k", -time.Second); err == nil {
		t.Fatal("Expire with negative ttl: want an error")
	}
}

func TestListPushManyValues(t *testing.T) {
	// More values than Lua's unpack takes at once.
	s := newStore(t)
	ctx := t.Context()
	vals := make([][]byte, 20000)
	for i := range vals {
		vals[i] = []byte{byte(i), byte(i >> 8)}
	}
	n, err := s.ListPush(ctx, "l", 0, vals...)
	if err != nil || n != len(vals) {
		t.Fatalf("ListPush(%d values) = %d, %v", len(vals), n, err)
	}
	n, err = s.ListPush(ctx, "capped", 15000, vals...)
	if err != nil || n != 15000 {
		t.Fatalf("ListPush(%d values, maxLen 15000) = %d, %v", len(vals), n, err)
	}
	last, err := s.ListRange(ctx, "capped", -1, -1)
	if err != nil || len(last) != 1 || string(last[0]) != string(vals[len(vals)-1]) {
		t.Fatalf("last element = %q, %v", last, err)
	}
}

func TestOutage(t *testing.T) {
	srv := redistest.StartServer(t)
	s, err := redis.Open(srv.URL(), redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	ctx := t.Context()
	if _, err := s.Incr(ctx, "n", 1); err != nil {
		t.Fatalf("before outage: %v", err)
	}

	srv.Stop()
	for _, op := range []string{"Incr", "Get"} {
		c, cancel := context.WithTimeout(ctx, time.Second)
		start := time.Now()
		if op == "Incr" {
			_, err = s.Incr(c, "n", 1)
		} else {
			_, err = s.Get(c, "n")
		}
		elapsed := time.Since(start)
		cancel()
		if err == nil {
			t.Fatalf("%s during outage: err = nil; want an error", op)
		}
		if errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s during outage: err = %v; want a connection error, not ErrNotFound", op, err)
		}
		// The context allows 1s; anything well past it means a call blocked.
		if elapsed > 3*time.Second {
			t.Fatalf("%s during outage took %v; want about 1s at most", op, elapsed)
		}
		t.Logf("%s during outage: %v after %v", op, err, elapsed)
	}

	srv.Start()
	// The same Store recovers. The pool may take a moment to notice that
	// Redis is back (go-redis probes once a second after repeated dial
	// failures), so poll.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, cancel := context.WithTimeout(ctx, time.Second)
		n, err := s.Incr(c, "n", 1)
		cancel()
		if err == nil {
			// The restarted server kept no data.
			if n != 1 {
				t.Fatalf("Incr after restart = %d; want 1", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing 10s after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatalf("Set after restart: %v", err)
	}
	if _, err := s.ListPush(ctx, "l", 2, []byte("a")); err != nil {
		t.Fatalf("ListPush (a script, flushed by the restart) after restart: %v", err)
	}
}
