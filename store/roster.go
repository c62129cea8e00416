package store

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Roster is implemented by stores that keep rosters: at a key, the members
// present, each held by one or more holders, with a version that counts
// every member that appeared or disappeared. The realtime Mux keeps one per
// room with presence events, a member per user and a holder per instance
// process, so that a user is announced once when the first instance gets
// one of its sockets and once when the last one loses it, whichever instance
// it is. Both stores of this module implement it; a cluster whose Store
// does not cannot have presence events.
//
// Every change to one member is atomic, and whoever changes the roster
// learns exactly which members it made appear or disappear: of callers
// racing to add the first holder of a member, or to remove its last, one
// is told. Adding a holder a member has, or removing one it has not, changes
// nothing, so every call can be repeated safely.
type Roster interface {
	// RosterAdd makes holder a holder of each member in the roster at key,
	// creating the roster when it is missing. Each member that had no holder
	// appears: it gets the roster's next version, and is listed in Changes.
	RosterAdd(ctx context.Context, key, holder string, members ...string) (RosterState, error)
	// RosterRestore is RosterAdd for members that were there before the
	// roster was lost (a Redis restarted empty) and are held again: each one
	// that appears is recorded as having appeared at version 0, before
	// anything the roster knows of.
	RosterRestore(ctx context.Context, key, holder string, members ...string) (RosterState, error)
	// RosterRemove takes holder away from each member in the roster at key.
	// Each member left without a holder disappears: it gets the roster's
	// next version, and is listed in Changes. A roster left empty is kept
	// for RosterIdleTTL, with its epoch and version, and then deleted; a
	// missing roster stays missing.
	RosterRemove(ctx context.Context, key, holder string, members ...string) (RosterState, error)
	// RosterStates returns the state of each roster (Changes empty), in the
	// order of keys; a missing roster has the zero state.
	RosterStates(ctx context.Context, keys ...string) ([]RosterState, error)
	// RosterMembers returns the state of a roster and, in one atomic read,
	// its members, each with the version at which it appeared (0 for those
	// restored).
	RosterMembers(ctx context.Context, key string) (RosterState, map[string]int64, error)
}

// RosterState is a roster as of a version.
type RosterState struct {
	// Epoch is when the roster was created, in microseconds of the store's
	// clock. A roster lost (a Redis restarted empty) and created again has a
	// later epoch, so (Epoch, Version) orders every state a key ever had.
	Epoch int64
	// Version counts the members that appeared or disappeared since the
	// roster was created.
	Version int64
	// Count is the number of members present.
	Count int
	// Changes are the members this call made appear (RosterAdd) or
	// disappear (RosterRemove), in the order of their versions.
	Changes []RosterChange
}

// RosterChange is one member that appeared or disappeared, and the version
// of the roster that change made.
type RosterChange struct {
	Member  string
	Version int64
}

// Less reports whether state s comes before (epoch, version): an earlier
// epoch, or the same epoch and a lower version.
func (s RosterState) Less(epoch, version int64) bool {
	return s.Epoch < epoch || (s.Epoch == epoch && s.Version < version)
}

// RosterIdleTTL is how long an empty roster is kept, so that a room that
// empties and fills again goes on with its epoch and versions.
const RosterIdleTTL = time.Hour

// ErrBadHolder is returned by RosterAdd and RosterRemove for an empty
// holder or one holding a newline, which rosters use as a separator.
var ErrBadHolder = errors.New("store: roster holder must be non-empty and hold no newline")

// CheckHolder returns ErrBadHolder for a holder a Roster cannot take.
func CheckHolder(holder string) error {
	if holder == "" || strings.ContainsRune(holder, '\n') {
		return ErrBadHolder
	}
	return nil
}
