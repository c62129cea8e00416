package loly

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/store"
)

// State is loly's state API (ctx.state) over a store.Store, with loly's
// encoding, so that keys written by a TypeScript server read the same here
// and the other way round (on store/redis with the default "loly:rt:"
// prefix, loly's RedisStateStore layout):
//
//   - Get and Set: JSON values (a string is stored quoted);
//   - Incr and Decr: base-10 integers, which are JSON numbers too;
//   - ListPush and ListRange: JSON values, newest first, trimmed to the
//     newest maxLen (LPUSH then LTRIM 0..maxLen-1);
//   - SetAdd, SetRem and SetMembers: plain strings.
//
// The store must implement store.FrontPusher for ListPush, as store/memory
// and store/redis do.
type State struct {
	st store.Store
}

// NewState returns the State of a store.
func NewState(st store.Store) *State { return &State{st: st} }

// StateOf returns the State of the mux's store, for a handler: the Go form
// of ctx.state.
func StateOf(c *realtime.Ctx) *State { return &State{st: c.Store()} }

// Store returns the underlying store.
func (s *State) Store() store.Store { return s.st }

// Get decodes the JSON value at key into v and reports whether the key
// existed; a value that is not JSON is an error (loly read it as null).
func (s *State) Get(ctx context.Context, key string, v any) (bool, error) {
	b, err := s.st.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("loly: state %q does not hold JSON: %w", key, err)
	}
	return true, nil
}

// Set stores v as JSON at key, with a ttl when ttl > 0 (loly's ttlMs).
func (s *State) Set(ctx context.Context, key string, v any, ttl time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("loly: state %q: %w", key, err)
	}
	return s.st.Set(ctx, key, b, ttl)
}

// Del deletes the key, whatever it holds.
func (s *State) Del(ctx context.Context, key string) error { return s.st.Delete(ctx, key) }

// Incr adds by to the integer at key (0 when missing) and returns the new
// value.
func (s *State) Incr(ctx context.Context, key string, by int64) (int64, error) {
	return s.st.Incr(ctx, key, by)
}

// Decr subtracts by from the integer at key and returns the new value.
func (s *State) Decr(ctx context.Context, key string, by int64) (int64, error) {
	return s.st.Incr(ctx, key, -by)
}

// ListPush puts v, as JSON, at the front of the list at key and, when
// maxLen > 0, keeps only the newest maxLen elements: loly's
// listPush(key, value, { maxLen }).
func (s *State) ListPush(ctx context.Context, key string, v any, maxLen int) error {
	fp, ok := s.st.(store.FrontPusher)
	if !ok {
		return fmt.Errorf("loly: state list %q: the store (%T) does not implement store.FrontPusher", key, s.st)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("loly: state list %q: %w", key, err)
	}
	_, err = fp.ListPushFront(ctx, key, maxLen, b)
	return err
}

// ListRange returns the elements from start to end inclusive (newest first;
// negative indexes count from the end), as raw JSON. Elements that are not
// JSON are left out, as loly left them out.
func (s *State) ListRange(ctx context.Context, key string, start, end int) ([]json.RawMessage, error) {
	vals, err := s.st.ListRange(ctx, key, start, end)
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, len(vals))
	for _, v := range vals {
		if json.Valid(v) {
			out = append(out, json.RawMessage(v))
		}
	}
	return out, nil
}

// SetAdd adds member to the set at key.
func (s *State) SetAdd(ctx context.Context, key, member string) error {
	_, err := s.st.SetAdd(ctx, key, member)
	return err
}

// SetRem removes member from the set at key.
func (s *State) SetRem(ctx context.Context, key, member string) error {
	_, err := s.st.SetRemove(ctx, key, member)
	return err
}

// SetMembers returns the members of the set at key.
func (s *State) SetMembers(ctx context.Context, key string) ([]string, error) {
	return s.st.SetMembers(ctx, key)
}
