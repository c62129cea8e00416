// Package store defines the shared state a realtime server keeps outside its
// sockets: counters, values, capped lists and sets. Handlers reach it through
// Ctx.Store; presence is built on it.
//
// This package holds only the Store interface, its errors and a conformance
// suite (see storetest). The implementations live in store/memory (one
// instance, nothing to install) and store/redis (many instances sharing one
// Redis). A user's own backend can run the same conformance suite.
//
// Keys are plain strings chosen by the caller; implementations may add a
// prefix of their own. Values are opaque bytes, except for Incr, which reads and
// writes base-10 integers, as Redis does.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrNotFound is returned by Get when the key does not exist or has expired.
var ErrNotFound = errors.New("store: key not found")

// ErrWrongType is returned when an operation meets a key that holds another
// kind of value (a list where a counter is expected, for example).
var ErrWrongType = errors.New("store: operation against a key holding the wrong kind of value")

// Store is shared state for realtime handlers. Every method is safe for
// concurrent use, and every method that changes a value is atomic: two
// instances calling Incr on the same key never lose an update.
//
// A ttl of zero means the key does not expire. Methods take a context for
// cancellation and deadlines; a backend that is down returns an error
// promptly rather than blocking past the context, and a call made with a
// context that is already done fails with an error matching ctx.Err() under
// errors.Is.
//
// Values are copied: a caller may reuse a slice it passed in and may modify
// a slice it got back. The storetest package checks all of this.
type Store interface {
	// Get returns the value stored at key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value at key with an optional ttl, replacing whatever the
	// key held, of any kind, along with its ttl.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes the keys; missing keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	// Incr adds delta (which may be negative) to the integer at key, creating
	// it at zero first, and returns the new value. The key keeps its ttl. A
	// value that is not a canonical base-10 int64, or a result that would
	// overflow, is an error and leaves the value unchanged.
	Incr(ctx context.Context, key string, delta int64) (int64, error)
	// Expire sets a ttl on an existing key (zero removes the ttl). It reports
	// whether the key existed.
	Expire(ctx context.Context, key string, ttl time.Duration) (bool, error)

	// ListPush appends values to the list at key and, when maxLen > 0, trims
	// the list to its last maxLen elements, in one atomic step. It returns the
	// list's length after the trim. With no values it only trims, and does
	// not create a missing list.
	ListPush(ctx context.Context, key string, maxLen int, values ...[]byte) (int, error)
	// ListRange returns the elements from start to stop inclusive; negative
	// indexes count from the end (-1 is the last element), as in Redis LRANGE.
	// A missing key is an empty list.
	ListRange(ctx context.Context, key string, start, stop int) ([][]byte, error)

	// SetAdd adds members to the set at key and returns how many were new.
	SetAdd(ctx context.Context, key string, members ...string) (int, error)
	// SetRemove removes members from the set at key and returns how many were
	// there. A set left empty is deleted.
	SetRemove(ctx context.Context, key string, members ...string) (int, error)
	// SetMembers returns the members of the set at key, in no particular
	// order. A missing key is an empty set.
	SetMembers(ctx context.Context, key string) ([]string, error)

	// Close releases the store's resources. Calls after Close return errors.
	Close() error
}

// Counter reads the integer at key, as Incr writes it, without changing it:
// a missing key reads 0, as Incr would start it. A value that is not a
// base-10 int64 is ErrWrongType.
func Counter(ctx context.Context, s Store, key string) (int64, error) {
	v, err := s.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q at %q is not a counter", ErrWrongType, v, key)
	}
	return n, nil
}
