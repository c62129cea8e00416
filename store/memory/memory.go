// Package memory is a store.Store that keeps everything in the process's
// memory.
//
// Use it when one server instance is all there is, and in tests: it needs no
// setup and behaves like the Redis store (same kinds of values, same errors,
// same LRANGE indexing, same base-10 counters). Do not use it when several
// processes must share state: each process gets its own, unrelated copy, and
// everything is lost when the process exits. Use store/redis for that.
//
// Keys with a ttl expire lazily, when they are next touched, and by a small
// sweep that every write performs on a sample of keys with a ttl, much as
// Redis does. There is no background goroutine, so a Store needs no Close to
// stop one; Close only releases the data and makes later calls fail.
package memory

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/lolyjs/realtime/store"
)

var (
	errClosed      = errors.New("store/memory: store is closed")
	errNotInteger  = errors.New("store/memory: value is not an integer or out of range")
	errOverflow    = errors.New("store/memory: increment or decrement would overflow")
	errNegativeTTL = errors.New("store/memory: negative ttl")
)

// Sweep tuning, borrowed from Redis's active expiry: look at sweepSample keys
// with a ttl per round, and run another round while more than a quarter of a
// sample had expired, up to sweepRounds rounds per write. This bounds the cost
// of a write while keeping expired keys from piling up.
const (
	sweepSample = 20
	sweepRounds = 4
)

type kind uint8

const (
	kindString kind = iota + 1
	kindList
	kindSet
	kindRoster
)

type entry struct {
	kind     kind
	str      []byte
	list     [][]byte
	set      map[string]struct{}
	roster   *roster
	expireAt time.Time // zero means no ttl
}

// Store is an in-memory store.Store. It is safe for concurrent use. The zero
// value is an empty, usable store, but New is the usual way to get one.
type Store struct {
	mu       sync.Mutex
	closed   bool
	data     map[string]*entry
	expiring map[string]struct{} // keys in data with a ttl, for the sweep
	now      func() time.Time    // replaced in tests
	epoch    int64               // the last roster epoch given out
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.FrontPusher = (*Store)(nil)
	_ store.Roster      = (*Store)(nil)
)

// New returns an empty Store.
func New() *Store {
	return &Store{}
}

// lock checks ctx and the closed flag and, if all is well, returns with s.mu
// held. Checking ctx first means a cancelled caller never writes anything.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	if s.data == nil {
		s.data = make(map[string]*entry)
		s.expiring = make(map[string]struct{})
	}
	return nil
}

func (s *Store) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// lookup returns the live entry at key, deleting it first if it has expired.
func (s *Store) lookup(key string, now time.Time) *entry {
	e := s.data[key]
	if e != nil && expired(e, now) {
		s.remove(key)
		return nil
	}
	return e
}

func expired(e *entry, now time.Time) bool {
	return !e.expireAt.IsZero() && !now.Before(e.expireAt)
}

func (s *Store) remove(key string) {
	delete(s.data, key)
	delete(s.expiring, key)
}

// put stores e at key with the given ttl, replacing any previous entry.
func (s *Store) put(key string, e *entry, ttl time.Duration, now time.Time) {
	s.data[key] = e
	s.setTTL(key, e, ttl, now)
}

func (s *Store) setTTL(key string, e *entry, ttl time.Duration, now time.Time) {
	if ttl > 0 {
		e.expireAt = now.Add(ttl)
		s.expiring[key] = struct{}{}
	} else {
		e.expireAt = time.Time{}
		delete(s.expiring, key)
	}
}

// sweep deletes expired keys from a random sample of the keys with a ttl.
// Ranging over a Go map starts at a random position, which is what makes the
// sample random.
func (s *Store) sweep(now time.Time) {
	for range sweepRounds {
		seen, gone := 0, 0
		for key := range s.expiring {
			if seen == sweepSample {
				break
			}
			seen++
			if expired(s.data[key], now) {
				s.remove(key)
				gone++
			}
		}
		if gone*4 <= seen {
			return
		}
	}
}

func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// Get returns a copy of the value stored at key, or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	e := s.lookup(key, s.clock())
	if e == nil {
		return nil, store.ErrNotFound
	}
	if e.kind != kindString {
		return nil, store.ErrWrongType
	}
	return clone(e.str), nil
}

// Set stores a copy of value at key, replacing any value of any kind and its
// ttl. A ttl of zero means no expiry; a negative ttl is an error.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		return errNegativeTTL
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	now := s.clock()
	s.put(key, &entry{kind: kindString, str: clone(value)}, ttl, now)
	s.sweep(now)
	return nil
}

// Delete removes the keys, whatever they hold. Missing keys are ignored.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, k := range keys {
		s.remove(k)
	}
	s.sweep(s.clock())
	return nil
}

// Incr adds delta to the base-10 integer at key, creating it at zero first,
// and returns the new value. The key's ttl, if any, is kept. Like Redis, it
// fails on a value that is not a canonical base-10 int64 and on overflow,
// leaving the value unchanged.
func (s *Store) Incr(ctx context.Context, key string, delta int64) (int64, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	now := s.clock()
	defer s.sweep(now)
	e := s.lookup(key, now)
	var cur int64
	if e != nil {
		if e.kind != kindString {
			return 0, store.ErrWrongType
		}
		v, err := strconv.ParseInt(string(e.str), 10, 64)
		// Redis accepts only the canonical form: no '+', no leading zeros,
		// no spaces. Comparing with the formatted value checks all of that.
		if err != nil || strconv.FormatInt(v, 10) != string(e.str) {
			return 0, errNotInteger
		}
		cur = v
	}
	if (delta > 0 && cur > math.MaxInt64-delta) || (delta < 0 && cur < math.MinInt64-delta) {
		return 0, errOverflow
	}
	cur += delta
	if e == nil {
		e = &entry{kind: kindString}
		s.put(key, e, 0, now)
	}
	e.str = strconv.AppendInt(e.str[:0], cur, 10)
	return cur, nil
}

// Expire sets a ttl on the key, whatever it holds; zero removes the ttl and a
// negative ttl is an error. It reports whether the key existed.
func (s *Store) Expire(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl < 0 {
		return false, errNegativeTTL
	}
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	now := s.clock()
	defer s.sweep(now)
	e := s.lookup(key, now)
	if e == nil {
		return false, nil
	}
	s.setTTL(key, e, ttl, now)
	return true, nil
}

// ListPush appends copies of values to the list at key and, when maxLen > 0,
// keeps only its last maxLen elements. It returns the list's length. Pushing
// no values only trims; it does not create a missing list.
func (s *Store) ListPush(ctx context.Context, key string, maxLen int, values ...[]byte) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	now := s.clock()
	defer s.sweep(now)
	e := s.lookup(key, now)
	if e != nil && e.kind != kindList {
		return 0, store.ErrWrongType
	}
	if e == nil {
		if len(values) == 0 {
			return 0, nil
		}
		e = &entry{kind: kindList}
		s.put(key, e, 0, now)
	}
	// Values that the trim would drop at once are never copied.
	if maxLen > 0 && len(values) > maxLen {
		values = values[len(values)-maxLen:]
	}
	for _, v := range values {
		e.list = append(e.list, clone(v))
	}
	if maxLen > 0 && len(e.list) > maxLen {
		// Reslicing keeps the push amortised O(1): append copies the live
		// tail to a new array when the capacity runs out. Clearing the
		// dropped slots lets their bytes be collected meanwhile.
		drop := len(e.list) - maxLen
		clear(e.list[:drop])
		e.list = e.list[drop:]
	}
	return len(e.list), nil
}

// ListPushFront pushes copies of values to the front of the list at key,
// one after another (the last value given ends first, as with Redis LPUSH),
// and, when maxLen > 0, trims the list to its first maxLen elements, in one
// atomic step. It returns the list's length. Pushing no values only trims;
// it does not create a missing list.
func (s *Store) ListPushFront(ctx context.Context, key string, maxLen int, values ...[]byte) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	now := s.clock()
	defer s.sweep(now)
	e := s.lookup(key, now)
	if e != nil && e.kind != kindList {
		return 0, store.ErrWrongType
	}
	if e == nil {
		if len(values) == 0 {
			return 0, nil
		}
		e = &entry{kind: kindList}
		s.put(key, e, 0, now)
	}
	// Values that the trim would drop at once are never copied: only the
	// last maxLen given can end up in front.
	if maxLen > 0 && len(values) > maxLen {
		values = values[len(values)-maxLen:]
	}
	keep := len(e.list)
	if maxLen > 0 {
		keep = min(keep, maxLen-len(values))
	}
	list := make([][]byte, 0, len(values)+keep)
	for i := len(values) - 1; i >= 0; i-- {
		list = append(list, clone(values[i]))
	}
	e.list = append(list, e.list[:keep]...)
	return len(e.list), nil
}

// ListRange returns copies of the list's elements from start to stop
// inclusive, with negative indexes counting from the end, as Redis LRANGE
// does. A missing key is an empty list.
func (s *Store) ListRange(ctx context.Context, key string, start, stop int) ([][]byte, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	e := s.lookup(key, s.clock())
	if e == nil {
		return [][]byte{}, nil
	}
	if e.kind != kindList {
		return nil, store.ErrWrongType
	}
	n := len(e.list)
	if start < 0 {
		start = max(n+start, 0)
	}
	if stop < 0 {
		stop = n + stop
	}
	stop = min(stop, n-1)
	if start > stop {
		return [][]byte{}, nil
	}
	out := make([][]byte, 0, stop-start+1)
	for _, v := range e.list[start : stop+1] {
		out = append(out, clone(v))
	}
	return out, nil
}

// SetAdd adds members to the set at key and returns how many were new.
func (s *Store) SetAdd(ctx context.Context, key string, members ...string) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if len(members) == 0 {
		return 0, nil
	}
	now := s.clock()
	defer s.sweep(now)
	e := s.lookup(key, now)
	if e != nil && e.kind != kindSet {
		return 0, store.ErrWrongType
	}
	if e == nil {
		e = &entry{kind: kindSet, set: make(map[string]struct{}, len(members))}
		s.put(key, e, 0, now)
	}
	added := 0
	for _, m := range members {
		if _, ok := e.set[m]; !ok {
			e.set[m] = struct{}{}
			added++
		}
	}
	return added, nil
}

// SetRemove removes members from the set at key and returns how many were
// there. A set left empty is deleted, as in Redis.
func (s *Store) SetRemove(ctx context.Context, key string, members ...string) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if len(members) == 0 {
		return 0, nil
	}
	now := s.clock()
	defer s.sweep(now)
	e := s.lookup(key, now)
	if e == nil {
		return 0, nil
	}
	if e.kind != kindSet {
		return 0, store.ErrWrongType
	}
	removed := 0
	for _, m := range members {
		if _, ok := e.set[m]; ok {
			delete(e.set, m)
			removed++
		}
	}
	if len(e.set) == 0 {
		s.remove(key)
	}
	return removed, nil
}

// SetMembers returns the members of the set at key in no particular order. A
// missing key is an empty set.
func (s *Store) SetMembers(ctx context.Context, key string) ([]string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	e := s.lookup(key, s.clock())
	if e == nil {
		return []string{}, nil
	}
	if e.kind != kindSet {
		return nil, store.ErrWrongType
	}
	out := make([]string, 0, len(e.set))
	for m := range e.set {
		out = append(out, m)
	}
	return out, nil
}

// Close drops all data. Every later call, Close included, returns an error.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.closed = true
	s.data, s.expiring = nil, nil
	return nil
}
