// Package redis is a store.Store backed by Redis, for several server
// instances that must share state.
//
// Every method is one command or one Lua script, so each change is atomic
// and costs one round trip, whichever instance makes it. (A script's first
// run on a server costs one extra round trip, to load it.) Keys are stored
// under a prefix, "loly:rt:" unless Options.Prefix says otherwise, so one
// Redis can be shared with other applications.
//
// The store works with any go-redis UniversalClient: a single server,
// Sentinel or Cluster. Build the client yourself and pass it to New, or let
// Open build a single-server client from a URL:
//
//	s, err := redis.Open("redis://localhost:6379/0", redis.Options{Prefix: "chat:"})
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//	n, err := s.Incr(ctx, "visits", 1) // INCRBY chat:visits 1
//
// Redis being down is not an error at construction time; calls fail, within
// their context's deadline, until it is back, and then work again on the same
// Store.
package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lolyjs/realtime/store"
)

// DefaultPrefix is the key prefix used when Options.Prefix is empty.
const DefaultPrefix = "loly:rt:"

// Options configures a Store.
type Options struct {
	// Prefix is prepended to every key. Empty means DefaultPrefix. On a
	// Redis Cluster it must not contain '{', so that hash tags in the
	// caller's keys keep working.
	Prefix string
}

// Store is a store.Store backed by Redis. It is safe for concurrent use.
type Store struct {
	client goredis.UniversalClient
	prefix string
	owned  bool // the client was made by Open, so Close closes it
	closed atomic.Bool
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.FrontPusher = (*Store)(nil)
)

var (
	errClosed      = errors.New("store/redis: store is closed")
	errNegativeTTL = errors.New("store/redis: negative ttl")
)

// New returns a Store that uses client. The caller keeps ownership of the
// client: Close does not close it, so it can be shared with other users.
// New sends nothing to Redis.
func New(client goredis.UniversalClient, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("store/redis: nil client")
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{client: client, prefix: prefix}, nil
}

// Open connects to the single Redis server described by a go-redis URL such
// as "redis://user:pass@host:6379/0?dial_timeout=3s" (see go-redis
// ParseURL; "rediss://" uses TLS). The Store owns the client and closes it
// on Close. For Cluster or Sentinel, build a UniversalClient and use New.
// Open does not wait for Redis to answer.
func Open(url string, opts Options) (*Store, error) {
	o, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("store/redis: %w", err)
	}
	s, err := New(goredis.NewClient(o), opts)
	if err != nil {
		return nil, err
	}
	s.owned = true
	return s, nil
}

// pushScript appends ARGV[2:] to the list and trims it to the last ARGV[1]
// elements when ARGV[1] > 0, returning the length; a script makes push and
// trim one atomic step. RPUSH is called in batches because Lua's unpack
// fails beyond a few thousand values.
var pushScript = goredis.NewScript(`
local n = 0
local i = 2
while i <= #ARGV do
	local j = math.min(i + 999, #ARGV)
	n = redis.call('RPUSH', KEYS[1], unpack(ARGV, i, j))
	i = j + 1
end
if #ARGV < 2 then
	n = redis.call('LLEN', KEYS[1])
end
local max = tonumber(ARGV[1])
if max > 0 and n > max then
	redis.call('LTRIM', KEYS[1], -max, -1)
	n = max
end
return n
`)

// pushFrontScript is pushScript's mirror for ListPushFront: LPUSH ARGV[2:]
// (in batches, as above), then LTRIM to the first ARGV[1] elements when
// ARGV[1] > 0, returning the length. With ARGV[1] = 50 it leaves the list
// exactly as loly's listPush (LPUSH, then LTRIM 0 49) does.
var pushFrontScript = goredis.NewScript(`
local n = 0
local i = 2
while i <= #ARGV do
	local j = math.min(i + 999, #ARGV)
	n = redis.call('LPUSH', KEYS[1], unpack(ARGV, i, j))
	i = j + 1
end
if #ARGV < 2 then
	n = redis.call('LLEN', KEYS[1])
end
local max = tonumber(ARGV[1])
if max > 0 and n > max then
	redis.call('LTRIM', KEYS[1], 0, max - 1)
	n = max
end
return n
`)

// persistScript removes a key's ttl and reports whether the key exists.
// PERSIST alone cannot tell a key without a ttl from a missing one.
var persistScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
	return 0
end
redis.call('PERSIST', KEYS[1])
return 1
`)

func (s *Store) key(k string) string { return s.prefix + k }

// check fails fast on a closed store or a done context, so neither ever
// reaches Redis.
func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	return ctx.Err()
}

// fail wraps a Redis error with the operation and key. A WRONGTYPE reply
// becomes store.ErrWrongType and a done context stays visible to errors.Is;
// either way the original error is kept as the cause.
func fail(ctx context.Context, op, key string, err error) error {
	if isWrongType(err) {
		return fmt.Errorf("store/redis: %s %q: %w: %w", op, key, store.ErrWrongType, err)
	}
	// go-redis reports a deadline hit mid-command as a network timeout.
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("store/redis: %s %q: %w: %w", op, key, cerr, err)
	}
	return fmt.Errorf("store/redis: %s %q: %w", op, key, err)
}

// isWrongType reports whether err is a WRONGTYPE reply. It looks inside the
// message because a script's error (Redis 6) carries it after a preamble.
func isWrongType(err error) bool {
	var rerr goredis.Error
	return errors.As(err, &rerr) && strings.Contains(rerr.Error(), "WRONGTYPE")
}

// roundTTL rounds a ttl up to whole milliseconds, the resolution Redis
// keeps, so a tiny positive ttl still expires instead of being refused.
func roundTTL(ttl time.Duration) time.Duration {
	return (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
}

// Get returns the value stored at key, or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	v, err := s.client.Get(ctx, s.key(key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, "get", key, err)
	}
	return v, nil
}

// Set stores value at key with SET, replacing any value of any kind and its
// ttl. A ttl of zero means no expiry; a negative ttl is an error. Redis keeps
// ttls in milliseconds; shorter ones are rounded up.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		return errNegativeTTL
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := s.client.Set(ctx, s.key(key), value, roundTTL(ttl)).Err(); err != nil {
		return fail(ctx, "set", key, err)
	}
	return nil
}

// Delete removes the keys with DEL. On a Cluster or Ring client, whose keys
// may live on different nodes, it sends one DEL per key in a pipeline
// instead, which is not atomic across keys.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = s.key(k)
	}
	switch s.client.(type) {
	case *goredis.ClusterClient, *goredis.Ring:
		_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, k := range full {
				p.Del(ctx, k)
			}
			return nil
		})
		if err != nil {
			return fail(ctx, "delete", keys[0], err)
		}
		return nil
	}
	if err := s.client.Del(ctx, full...).Err(); err != nil {
		return fail(ctx, "delete", keys[0], err)
	}
	return nil
}

// Incr adds delta to the integer at key with INCRBY and returns the new
// value. It keeps the key's ttl. A value that is not a base-10 int64, or an
// overflow, is an error (Redis's "not an integer or out of range" or
// "would overflow", wrapped) and leaves the value unchanged.
func (s *Store) Incr(ctx context.Context, key string, delta int64) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	n, err := s.client.IncrBy(ctx, s.key(key), delta).Result()
	if err != nil {
		return 0, fail(ctx, "incr", key, err)
	}
	return n, nil
}

// Expire sets a ttl on the key with PEXPIRE; zero removes the ttl (PERSIST,
// in a script that also reports whether the key exists) and a negative ttl is
// an error. It reports whether the key existed.
func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl < 0 {
		return false, errNegativeTTL
	}
	if err := s.check(ctx); err != nil {
		return false, err
	}
	if ttl == 0 {
		n, err := persistScript.Run(ctx, s.client, []string{s.key(key)}).Int64()
		if err != nil {
			return false, fail(ctx, "expire", key, err)
		}
		return n == 1, nil
	}
	ok, err := s.client.PExpire(ctx, s.key(key), roundTTL(ttl)).Result()
	if err != nil {
		return false, fail(ctx, "expire", key, err)
	}
	return ok, nil
}

// ListPush appends values to the list at key and, when maxLen > 0, trims it
// to its last maxLen elements, in one script (RPUSH, LTRIM, LLEN). It returns
// the list's length. Pushing no values only trims; it does not create a
// missing list.
func (s *Store) ListPush(ctx context.Context, key string, maxLen int, values ...[]byte) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	// Values that the trim would drop at once are not sent.
	if maxLen > 0 && len(values) > maxLen {
		values = values[len(values)-maxLen:]
	}
	args := make([]any, 0, 1+len(values))
	args = append(args, max(maxLen, 0))
	for _, v := range values {
		args = append(args, v)
	}
	n, err := pushScript.Run(ctx, s.client, []string{s.key(key)}, args...).Int64()
	if err != nil {
		return 0, fail(ctx, "listpush", key, err)
	}
	return int(n), nil
}

// ListPushFront pushes values to the front of the list at key, one after
// another (the last value given ends first), and, when maxLen > 0, trims it
// to its first maxLen elements, in one script (LPUSH, LTRIM, LLEN). It
// returns the list's length. Pushing no values only trims; it does not
// create a missing list.
func (s *Store) ListPushFront(ctx context.Context, key string, maxLen int, values ...[]byte) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	// Values that the trim would drop at once are not sent.
	if maxLen > 0 && len(values) > maxLen {
		values = values[len(values)-maxLen:]
	}
	args := make([]any, 0, 1+len(values))
	args = append(args, max(maxLen, 0))
	for _, v := range values {
		args = append(args, v)
	}
	n, err := pushFrontScript.Run(ctx, s.client, []string{s.key(key)}, args...).Int64()
	if err != nil {
		return 0, fail(ctx, "listpushfront", key, err)
	}
	return int(n), nil
}

// ListRange returns the elements from start to stop inclusive with LRANGE;
// negative indexes count from the end. A missing key is an empty list.
func (s *Store) ListRange(ctx context.Context, key string, start, stop int) ([][]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	vals, err := s.client.LRange(ctx, s.key(key), int64(start), int64(stop)).Result()
	if err != nil {
		return nil, fail(ctx, "listrange", key, err)
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v)
	}
	return out, nil
}

// SetAdd adds members to the set at key with SADD and returns how many were
// new.
func (s *Store) SetAdd(ctx context.Context, key string, members ...string) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if len(members) == 0 {
		return 0, nil // SADD needs at least one member
	}
	n, err := s.client.SAdd(ctx, s.key(key), anys(members)...).Result()
	if err != nil {
		return 0, fail(ctx, "setadd", key, err)
	}
	return int(n), nil
}

// SetRemove removes members from the set at key with SREM and returns how
// many were there. Redis deletes a set left empty.
func (s *Store) SetRemove(ctx context.Context, key string, members ...string) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if len(members) == 0 {
		return 0, nil // SREM needs at least one member
	}
	n, err := s.client.SRem(ctx, s.key(key), anys(members)...).Result()
	if err != nil {
		return 0, fail(ctx, "setremove", key, err)
	}
	return int(n), nil
}

// SetMembers returns the members of the set at key with SMEMBERS, in no
// particular order. A missing key is an empty set.
func (s *Store) SetMembers(ctx context.Context, key string) ([]string, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	m, err := s.client.SMembers(ctx, s.key(key)).Result()
	if err != nil {
		return nil, fail(ctx, "setmembers", key, err)
	}
	return m, nil
}

// Close makes every later call fail, Close included. It closes the client
// only if Open created it; a client passed to New stays open for its owner.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return errClosed
	}
	if s.owned {
		return s.client.Close()
	}
	return nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, v := range ss {
		out[i] = v
	}
	return out
}
