package memory

import (
	"context"
	"slices"

	"github.com/lolyjs/realtime/store"
)

// roster is the value of a roster key: its epoch and version, and each
// member present with its holders and the version at which it appeared.
type roster struct {
	epoch, version int64
	members        map[string]*rosterMember
}

type rosterMember struct {
	since   int64
	holders []string
}

func (r *roster) state() store.RosterState {
	return store.RosterState{Epoch: r.epoch, Version: r.version, Count: len(r.members)}
}

// rosterAt returns the live roster at key, nil when there is none, or
// ErrWrongType. s.mu is held.
func (s *Store) rosterAt(key string) (*entry, error) {
	e := s.lookup(key, s.clock())
	if e != nil && e.kind != kindRoster {
		return nil, store.ErrWrongType
	}
	return e, nil
}

// RosterAdd makes holder a holder of each member, creating the roster at
// key when it is missing; see store.Roster. The epoch of a new roster is the
// current time in microseconds, or one more than the last epoch this store
// gave out, whichever is later.
func (s *Store) RosterAdd(ctx context.Context, key, holder string, members ...string) (store.RosterState, error) {
	return s.rosterAdd(ctx, key, holder, members, false)
}

// RosterRestore is RosterAdd for members that were there before the
// roster was lost; see store.Roster.
func (s *Store) RosterRestore(ctx context.Context, key, holder string, members ...string) (store.RosterState, error) {
	return s.rosterAdd(ctx, key, holder, members, true)
}

func (s *Store) rosterAdd(ctx context.Context, key, holder string, members []string, restore bool) (store.RosterState, error) {
	if err := store.CheckHolder(holder); err != nil {
		return store.RosterState{}, err
	}
	if err := s.lock(ctx); err != nil {
		return store.RosterState{}, err
	}
	defer s.mu.Unlock()
	now := s.clock()
	defer s.sweep(now)
	e, err := s.rosterAt(key)
	if err != nil {
		return store.RosterState{}, err
	}
	if e == nil {
		if len(members) == 0 {
			return store.RosterState{}, nil
		}
		s.epoch = max(now.UnixMicro(), s.epoch+1)
		e = &entry{kind: kindRoster, roster: &roster{epoch: s.epoch, members: make(map[string]*rosterMember)}}
		s.put(key, e, 0, now)
	}
	r := e.roster
	var changes []store.RosterChange
	for _, m := range members {
		rm := r.members[m]
		if rm == nil {
			r.version++
			since := r.version
			if restore {
				since = 0
			}
			r.members[m] = &rosterMember{since: since, holders: []string{holder}}
			changes = append(changes, store.RosterChange{Member: m, Version: r.version})
		} else if !slices.Contains(rm.holders, holder) {
			rm.holders = append(rm.holders, holder)
		}
	}
	if len(r.members) > 0 {
		s.setTTL(key, e, 0, now)
	}
	st := r.state()
	st.Changes = changes
	return st, nil
}

// RosterRemove takes holder away from each member of the roster at key; see
// store.Roster.
func (s *Store) RosterRemove(ctx context.Context, key, holder string, members ...string) (store.RosterState, error) {
	if err := store.CheckHolder(holder); err != nil {
		return store.RosterState{}, err
	}
	if err := s.lock(ctx); err != nil {
		return store.RosterState{}, err
	}
	defer s.mu.Unlock()
	now := s.clock()
	defer s.sweep(now)
	e, err := s.rosterAt(key)
	if err != nil || e == nil {
		return store.RosterState{}, err
	}
	r := e.roster
	var changes []store.RosterChange
	for _, m := range members {
		rm := r.members[m]
		if rm == nil {
			continue
		}
		i := slices.Index(rm.holders, holder)
		if i < 0 {
			continue
		}
		rm.holders = slices.Delete(rm.holders, i, i+1)
		if len(rm.holders) == 0 {
			delete(r.members, m)
			r.version++
			changes = append(changes, store.RosterChange{Member: m, Version: r.version})
		}
	}
	if len(r.members) == 0 {
		s.setTTL(key, e, store.RosterIdleTTL, now)
	}
	st := r.state()
	st.Changes = changes
	return st, nil
}

// RosterStates returns the state of each roster at keys; see store.Roster.
func (s *Store) RosterStates(ctx context.Context, keys ...string) ([]store.RosterState, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]store.RosterState, len(keys))
	for i, k := range keys {
		e, err := s.rosterAt(k)
		if err != nil {
			return nil, err
		}
		if e != nil {
			out[i] = e.roster.state()
		}
	}
	return out, nil
}

// RosterMembers returns the state and the members of the roster at key; see
// store.Roster.
func (s *Store) RosterMembers(ctx context.Context, key string) (store.RosterState, map[string]int64, error) {
	if err := s.lock(ctx); err != nil {
		return store.RosterState{}, nil, err
	}
	defer s.mu.Unlock()
	e, err := s.rosterAt(key)
	if err != nil {
		return store.RosterState{}, nil, err
	}
	out := make(map[string]int64)
	if e == nil {
		return store.RosterState{}, out, nil
	}
	for m, rm := range e.roster.members {
		out[m] = rm.since
	}
	return e.roster.state(), out, nil
}
