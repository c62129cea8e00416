package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/lolyjs/realtime/store"
)

func runRoster(t *testing.T, open func(t *testing.T) store.Roster) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, r store.Roster)
	}{
		{"RosterHolders", testRosterHolders},
		{"RosterMembers", testRosterMembers},
		{"RosterRestore", testRosterRestore},
		{"RosterMissing", testRosterMissing},
		{"RosterIdleKeepsEpoch", testRosterIdleKeepsEpoch},
		{"RosterLostGetsLaterEpoch", testRosterLostGetsLaterEpoch},
		{"RosterManyMembers", testRosterManyMembers},
		{"RosterOddNames", testRosterOddNames},
		{"RosterBadHolder", testRosterBadHolder},
		{"RosterWrongType", testRosterWrongType},
		{"RosterConcurrentHolders", testRosterConcurrentHolders},
		{"RosterCancelledContext", testRosterCancelledContext},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func rosterAdd(t *testing.T, r store.Roster, key, holder string, members ...string) store.RosterState {
	t.Helper()
	st, err := r.RosterAdd(ctx(t), key, holder, members...)
	if err != nil {
		t.Fatalf("RosterAdd(%q, %q, %q): %v", key, holder, members, err)
	}
	return st
}

func rosterRemove(t *testing.T, r store.Roster, key, holder string, members ...string) store.RosterState {
	t.Helper()
	st, err := r.RosterRemove(ctx(t), key, holder, members...)
	if err != nil {
		t.Fatalf("RosterRemove(%q, %q, %q): %v", key, holder, members, err)
	}
	return st
}

// changes formats a state's changes as "member@version".
func changes(st store.RosterState) []string {
	out := []string{}
	for _, c := range st.Changes {
		out = append(out, c.Member+"@"+strconv.FormatInt(c.Version, 10))
	}
	return out
}

func wantState(t *testing.T, what string, st store.RosterState, version int64, count int, ch ...string) {
	t.Helper()
	if ch == nil {
		ch = []string{}
	}
	if st.Version != version || st.Count != count || !slices.Equal(changes(st), ch) {
		t.Fatalf("%s: version %d, count %d, changes %q; want %d, %d, %q",
			what, st.Version, st.Count, changes(st), version, count, ch)
	}
}

// A member appears with its first holder and disappears with its last;
// repeating an add or a remove changes nothing.
func testRosterHolders(t *testing.T, r store.Roster) {
	st := rosterAdd(t, r, "k", "h1", "u1")
	if st.Epoch <= 0 {
		t.Fatalf("epoch of a new roster is %d; want > 0", st.Epoch)
	}
	epoch := st.Epoch
	wantState(t, "first holder", st, 1, 1, "u1@1")
	wantState(t, "second holder", rosterAdd(t, r, "k", "h2", "u1"), 1, 1)
	wantState(t, "same holder again", rosterAdd(t, r, "k", "h1", "u1"), 1, 1)
	wantState(t, "one holder of two gone", rosterRemove(t, r, "k", "h1", "u1"), 1, 1)
	wantState(t, "a holder it has not", rosterRemove(t, r, "k", "h1", "u1"), 1, 1)
	wantState(t, "other member", rosterRemove(t, r, "k", "h2", "u2"), 1, 1)
	st = rosterRemove(t, r, "k", "h2", "u1")
	wantState(t, "last holder", st, 2, 0, "u1@2")
	wantState(t, "again", rosterRemove(t, r, "k", "h2", "u1"), 2, 0)
	if st.Epoch != epoch {
		t.Fatalf("epoch changed from %d to %d", epoch, st.Epoch)
	}
	wantState(t, "back", rosterAdd(t, r, "k", "h3", "u1", "u2", "u1"), 4, 2, "u1@3", "u2@4")
}

func testRosterMembers(t *testing.T, r store.Roster) {
	rosterAdd(t, r, "k", "h1", "a", "b")
	rosterAdd(t, r, "k", "h2", "b", "c")
	rosterRemove(t, r, "k", "h1", "a", "b")
	st, members, err := r.RosterMembers(ctx(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"b": 2, "c": 3}
	if st.Version != 4 || st.Count != 2 || len(members) != len(want) {
		t.Fatalf("RosterMembers = %+v, %v; want version 4, count 2, %v", st, members, want)
	}
	for m, v := range want {
		if members[m] != v {
			t.Fatalf("RosterMembers = %v; want %v", members, want)
		}
	}
	states, err := r.RosterStates(ctx(t), "k", "missing", "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 3 || states[0].Version != 4 || states[0].Count != 2 || states[0].Epoch != st.Epoch ||
		states[1].Epoch != 0 || states[1].Version != 0 || states[1].Count != 0 || states[2].Version != 4 {
		t.Fatalf("RosterStates = %+v", states)
	}
}

// A restored member appears like an added one, at version 0 for
// RosterMembers; restoring one present only adds the holder.
func testRosterRestore(t *testing.T, r store.Roster) {
	rosterAdd(t, r, "k", "h1", "a")
	st, err := r.RosterRestore(ctx(t), "k", "h2", "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, "restore", st, 2, 2, "b@2")
	if _, err := r.RosterRestore(ctx(t), "k", "", "c"); !errors.Is(err, store.ErrBadHolder) {
		t.Fatalf("RosterRestore with no holder: %v", err)
	}
	wantState(t, "a keeps h2", rosterRemove(t, r, "k", "h1", "a"), 2, 2)
	_, members, err := r.RosterMembers(ctx(t), "k")
	if err != nil || len(members) != 2 || members["a"] != 1 || members["b"] != 0 {
		t.Fatalf("RosterMembers = %v, %v; want a@1, b@0", members, err)
	}
	wantState(t, "b's only holder", rosterRemove(t, r, "k", "h2", "b"), 3, 1, "b@3")
	st, err = r.RosterRestore(ctx(t), "fresh", "h", "x")
	if err != nil || st.Epoch == 0 {
		t.Fatalf("RosterRestore on a missing roster: %+v, %v", st, err)
	}
	wantState(t, "restore creates", st, 1, 1, "x@1")
}

// Reading or removing from a missing roster does not create it.
func testRosterMissing(t *testing.T, r store.Roster) {
	wantState(t, "remove from missing", rosterRemove(t, r, "k", "h", "u"), 0, 0)
	wantState(t, "add nothing", rosterAdd(t, r, "k", "h"), 0, 0)
	st, members, err := r.RosterMembers(ctx(t), "k")
	if err != nil || st.Epoch != 0 || len(members) != 0 {
		t.Fatalf("RosterMembers of a missing roster = %+v, %v, %v", st, members, err)
	}
	if !isNotFound(t, r.(store.Store), "k") {
		t.Fatal("a remove or an empty add created the roster")
	}
	states, err := r.RosterStates(ctx(t))
	if err != nil || len(states) != 0 {
		t.Fatalf("RosterStates() = %v, %v", states, err)
	}
}

// An empty roster keeps its epoch and version until it expires.
func testRosterIdleKeepsEpoch(t *testing.T, r store.Roster) {
	first := rosterAdd(t, r, "k", "h", "u")
	rosterRemove(t, r, "k", "h", "u")
	st := rosterAdd(t, r, "k", "h", "u")
	if st.Epoch != first.Epoch {
		t.Fatalf("epoch %d after the roster emptied; want %d", st.Epoch, first.Epoch)
	}
	wantState(t, "after idle", st, 3, 1, "u@3")
}

// A roster deleted (as by a Redis restarted empty) starts again with a
// later epoch.
func testRosterLostGetsLaterEpoch(t *testing.T, r store.Roster) {
	first := rosterAdd(t, r, "k", "h", "u")
	if err := r.(store.Store).Delete(ctx(t), "k"); err != nil {
		t.Fatal(err)
	}
	st := rosterAdd(t, r, "k", "h", "u")
	if st.Epoch <= first.Epoch {
		t.Fatalf("epoch %d after the roster was lost; want more than %d", st.Epoch, first.Epoch)
	}
	wantState(t, "new roster", st, 1, 1, "u@1")
	if !st.Less(st.Epoch, 2) || st.Less(first.Epoch, 99) || st.Less(st.Epoch, 1) {
		t.Fatal("RosterState.Less orders by epoch, then version")
	}
}

func testRosterManyMembers(t *testing.T, r store.Roster) {
	const n = 1234
	members := make([]string, n)
	for i := range members {
		members[i] = fmt.Sprintf("m%04d", i)
	}
	st := rosterAdd(t, r, "k", "h", members...)
	if st.Count != n || st.Version != n || len(st.Changes) != n {
		t.Fatalf("adding %d members: count %d, version %d, %d changes", n, st.Count, st.Version, len(st.Changes))
	}
	for i, c := range st.Changes {
		if c.Member != members[i] || c.Version != int64(i+1) {
			t.Fatalf("change %d is %+v; want %s@%d", i, c, members[i], i+1)
		}
	}
	st = rosterRemove(t, r, "k", "h", members...)
	if st.Count != 0 || st.Version != 2*n || len(st.Changes) != n {
		t.Fatalf("removing them: count %d, version %d, %d changes", st.Count, st.Version, len(st.Changes))
	}
}

// Member names are opaque: the characters a backend may use in its layout
// are ordinary in them.
func testRosterOddNames(t *testing.T, r store.Roster) {
	odd := []string{"", "#e", "#v", "#n", "u", "u1", "a\nb", "\n", "é", "h"}
	st := rosterAdd(t, r, "k", "h", odd...)
	wantState(t, "odd names", st, int64(len(odd)), len(odd), func() []string {
		var out []string
		for i, m := range odd {
			out = append(out, m+"@"+strconv.Itoa(i+1))
		}
		return out
	}()...)
	_, members, err := r.RosterMembers(ctx(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, 0, len(members))
	for m := range members {
		got = append(got, m)
	}
	sort.Strings(got)
	want := slices.Clone(odd)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("members %q; want %q", got, want)
	}
	// A holder whose name is another's prefix, or a member's, is its own.
	wantState(t, "prefix holder", rosterAdd(t, r, "k", "hh", "u"), int64(len(odd)), len(odd))
	wantState(t, "remove h", rosterRemove(t, r, "k", "h", "u"), int64(len(odd)), len(odd))
	wantState(t, "remove hh", rosterRemove(t, r, "k", "hh", "u"), int64(len(odd))+1, len(odd)-1, "u@"+strconv.Itoa(len(odd)+1))
}

func testRosterBadHolder(t *testing.T, r store.Roster) {
	for _, h := range []string{"", "a\nb"} {
		if _, err := r.RosterAdd(ctx(t), "k", h, "u"); !errors.Is(err, store.ErrBadHolder) {
			t.Fatalf("RosterAdd with holder %q: %v; want ErrBadHolder", h, err)
		}
		if _, err := r.RosterRemove(ctx(t), "k", h, "u"); !errors.Is(err, store.ErrBadHolder) {
			t.Fatalf("RosterRemove with holder %q: %v; want ErrBadHolder", h, err)
		}
	}
}

func testRosterWrongType(t *testing.T, r store.Roster) {
	s := r.(store.Store)
	mustSet(t, s, "str", []byte("x"), 0)
	if _, err := r.RosterAdd(ctx(t), "str", "h", "u"); !errors.Is(err, store.ErrWrongType) {
		t.Fatalf("RosterAdd on a string: %v", err)
	}
	if _, err := r.RosterStates(ctx(t), "str"); !errors.Is(err, store.ErrWrongType) {
		t.Fatalf("RosterStates on a string: %v", err)
	}
	if _, _, err := r.RosterMembers(ctx(t), "str"); !errors.Is(err, store.ErrWrongType) {
		t.Fatalf("RosterMembers on a string: %v", err)
	}
	rosterAdd(t, r, "k", "h", "u")
	if _, err := s.Get(ctx(t), "k"); !errors.Is(err, store.ErrWrongType) {
		t.Fatalf("Get on a roster: %v", err)
	}
	if _, err := s.SetAdd(ctx(t), "k", "x"); !errors.Is(err, store.ErrWrongType) {
		t.Fatalf("SetAdd on a roster: %v", err)
	}
}

// Holders that add and remove one member concurrently: every appearance
// and disappearance is told to exactly one of them, and in version order
// they alternate, starting with an appearance.
func testRosterConcurrentHolders(t *testing.T, r store.Roster) {
	const workers, rounds = 6, 40
	c := ctx(t)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[int64]bool{} // version: appeared
		errs = make(chan error, workers)
	)
	for w := range workers {
		wg.Go(func() {
			h := "h" + strconv.Itoa(w)
			for range rounds {
				for _, add := range []bool{true, false} {
					op := r.RosterRemove
					if add {
						op = r.RosterAdd
					}
					st, err := op(c, "k", h, "u")
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					for _, ch := range st.Changes {
						if _, dup := seen[ch.Version]; dup {
							errs <- fmt.Errorf("version %d told twice", ch.Version)
						}
						seen[ch.Version] = add
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, members, err := r.RosterMembers(c, "k")
	if err != nil || st.Count != 0 || len(members) != 0 {
		t.Fatalf("after every holder left: %+v, %v, %v", st, members, err)
	}
	if int64(len(seen)) != st.Version || st.Version%2 != 0 || st.Version == 0 {
		t.Fatalf("%d changes told, version %d", len(seen), st.Version)
	}
	for v := int64(1); v <= st.Version; v++ {
		if seen[v] != (v%2 == 1) {
			t.Fatalf("version %d: appeared=%v; appearances and disappearances must alternate", v, seen[v])
		}
	}
}

func testRosterCancelledContext(t *testing.T, r store.Roster) {
	c, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.RosterAdd(c, "k", "h", "u"); !errors.Is(err, context.Canceled) {
		t.Fatalf("RosterAdd with a cancelled context: %v", err)
	}
	if _, err := r.RosterStates(c, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("RosterStates with a cancelled context: %v", err)
	}
	st, members, err := r.RosterMembers(ctx(t), "k")
	if err != nil || st.Epoch != 0 || len(members) != 0 {
		t.Fatalf("a cancelled RosterAdd wrote: %+v, %v, %v", st, members, err)
	}
}
