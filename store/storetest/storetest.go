// Package storetest is a conformance suite for store.Store implementations.
//
// An implementation's tests call Run with a constructor; every behaviour the
// store.Store documentation promises is checked in its own subtest, so a
// failure names the broken promise:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return mystore.New() })
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lolyjs/realtime/store"
)

// shortTTL is long enough for a write and a read to land before it expires on
// a loaded CI machine, and short enough to keep the suite quick.
const shortTTL = 150 * time.Millisecond

// expiryWait bounds how long the suite waits for a short ttl to take effect.
// It is generous on purpose: the suite checks that keys expire, not when.
const expiryWait = 5 * time.Second

// Run runs the conformance suite. newStore is called once per subtest and
// must return a fresh, empty store (or one whose keys cannot be seen by other
// subtests, such as a Redis store with a per-test prefix). Run closes each
// store when its subtest ends, ignoring the error, so newStore need not.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	open := func(t *testing.T) store.Store {
		t.Helper()
		s := newStore(t)
		if s == nil {
			t.Fatal("newStore returned nil")
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetMissing", testGetMissing},
		{"SetGetBinary", testSetGetBinary},
		{"SetReplaces", testSetReplaces},
		{"SetEmptyValue", testSetEmptyValue},
		{"ValuesAreCopied", testValuesAreCopied},
		{"SetTTLExpires", testSetTTLExpires},
		{"SetWithoutTTLClearsTTL", testSetWithoutTTLClearsTTL},
		{"SetReplacesOtherKind", testSetReplacesOtherKind},
		{"Delete", testDelete},
		{"DeleteAnyKind", testDeleteAnyKind},
		{"IncrFromMissing", testIncrFromMissing},
		{"IncrNegative", testIncrNegative},
		{"IncrReadsSetValue", testIncrReadsSetValue},
		{"IncrNotInteger", testIncrNotInteger},
		{"IncrKeepsTTL", testIncrKeepsTTL},
		{"IncrConcurrent", testIncrConcurrent},
		{"ExpireExisting", testExpireExisting},
		{"ExpireMissing", testExpireMissing},
		{"ExpireZeroRemovesTTL", testExpireZeroRemovesTTL},
		{"ExpireList", testExpireList},
		{"ListPushRange", testListPushRange},
		{"ListPushMaxLen", testListPushMaxLen},
		{"ListPushMaxLenOneCall", testListPushMaxLenOneCall},
		{"ListPushConcurrentMaxLen", testListPushConcurrentMaxLen},
		{"ListRangeIndexes", testListRangeIndexes},
		{"ListRangeMissing", testListRangeMissing},
		{"ListValuesAreCopied", testListValuesAreCopied},
		{"SetAddRemoveMembers", testSetAddRemoveMembers},
		{"SetRemoveDeletesEmpty", testSetRemoveDeletesEmpty},
		{"SetMembersMissing", testSetMembersMissing},
		{"WrongType", testWrongType},
		{"CancelledContext", testCancelledContext},
		{"ExpiredContext", testExpiredContext},
		{"AfterClose", testAfterClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
	// The optional Roster is checked on the stores that implement it.
	if _, ok := open(t).(store.Roster); ok {
		runRoster(t, func(t *testing.T) store.Roster { return open(t).(store.Roster) })
	}
	// The optional FrontPusher is checked on the stores that implement it.
	if _, ok := open(t).(store.FrontPusher); !ok {
		return
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.FrontPusher)
	}{
		{"ListPushFrontRange", testListPushFrontRange},
		{"ListPushFrontMaxLen", testListPushFrontMaxLen},
		{"ListPushFrontMaxLenOneCall", testListPushFrontMaxLenOneCall},
		{"ListPushFrontWrongType", testListPushFrontWrongType},
		{"ListPushFrontConcurrentMaxLen", testListPushFrontConcurrentMaxLen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t).(store.FrontPusher))
		})
	}
}

func ctx(t *testing.T) context.Context {
	// A deadline keeps a hung backend from stalling the whole test binary.
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustSet(t *testing.T, s store.Store, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(ctx(t), key, value, ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, s store.Store, key string) []byte {
	t.Helper()
	v, err := s.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func wantNotFound(t *testing.T, s store.Store, key string) {
	t.Helper()
	v, err := s.Get(ctx(t), key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want store.ErrNotFound", key, v, err)
	}
}

func mustPush(t *testing.T, s store.Store, key string, maxLen int, values ...string) int {
	t.Helper()
	n, err := s.ListPush(ctx(t), key, maxLen, bs(values...)...)
	if err != nil {
		t.Fatalf("ListPush(%q): %v", key, err)
	}
	return n
}

func mustRange(t *testing.T, s store.Store, key string, start, stop int) []string {
	t.Helper()
	v, err := s.ListRange(ctx(t), key, start, stop)
	if err != nil {
		t.Fatalf("ListRange(%q, %d, %d): %v", key, start, stop, err)
	}
	out := make([]string, len(v))
	for i, b := range v {
		out[i] = string(b)
	}
	return out
}

func mustMembers(t *testing.T, s store.Store, key string) []string {
	t.Helper()
	m, err := s.SetMembers(ctx(t), key)
	if err != nil {
		t.Fatalf("SetMembers(%q): %v", key, err)
	}
	m = slices.Clone(m)
	slices.Sort(m)
	return m
}

func bs(values ...string) [][]byte {
	out := make([][]byte, len(values))
	for i, v := range values {
		out[i] = []byte(v)
	}
	return out
}

// eventually polls cond until it holds or expiryWait passes. Expiry is
// checked this way because backends expire keys on their own schedule.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(expiryWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still false after %v", what, expiryWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isNotFound(t *testing.T, s store.Store, key string) bool {
	t.Helper()
	_, err := s.Get(ctx(t), key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return errors.Is(err, store.ErrNotFound)
}

func testGetMissing(t *testing.T, s store.Store) {
	wantNotFound(t, s, "missing")
}

func testSetGetBinary(t *testing.T, s store.Store) {
	// Every byte value, including NUL and invalid UTF-8, must survive.
	val := make([]byte, 256)
	for i := range val {
		val[i] = byte(i)
	}
	mustSet(t, s, "bin", val, 0)
	if got := mustGet(t, s, "bin"); !bytes.Equal(got, val) {
		t.Fatalf("Get = %x; want %x", got, val)
	}
}

func testSetReplaces(t *testing.T, s store.Store) {
	mustSet(t, s, "k", []byte("one"), 0)
	mustSet(t, s, "k", []byte("two"), 0)
	if got := mustGet(t, s, "k"); string(got) != "two" {
		t.Fatalf("Get = %q; want %q", got, "two")
	}
}

func testSetEmptyValue(t *testing.T, s store.Store) {
	// An empty value is a value, not a missing key.
	mustSet(t, s, "empty", nil, 0)
	if got := mustGet(t, s, "empty"); len(got) != 0 {
		t.Fatalf("Get = %q; want empty", got)
	}
}

func testValuesAreCopied(t *testing.T, s store.Store) {
	in := []byte("abc")
	mustSet(t, s, "k", in, 0)
	in[0] = 'X'
	out := mustGet(t, s, "k")
	if string(out) != "abc" {
		t.Fatalf("Get after mutating Set's argument = %q; want %q", out, "abc")
	}
	out[1] = 'Y'
	if got := mustGet(t, s, "k"); string(got) != "abc" {
		t.Fatalf("Get after mutating Get's result = %q; want %q", got, "abc")
	}
}

func testSetTTLExpires(t *testing.T, s store.Store) {
	mustSet(t, s, "ttl", []byte("v"), shortTTL)
	mustSet(t, s, "forever", []byte("v"), 0)
	eventually(t, "key with ttl expired", func() bool { return isNotFound(t, s, "ttl") })
	if got := mustGet(t, s, "forever"); string(got) != "v" {
		t.Fatalf("Get(forever) = %q; want %q", got, "v")
	}
}

func testSetWithoutTTLClearsTTL(t *testing.T, s store.Store) {
	// As in Redis SET: replacing a value replaces its ttl too.
	mustSet(t, s, "k", []byte("a"), shortTTL)
	mustSet(t, s, "k", []byte("b"), 0)
	time.Sleep(3 * shortTTL)
	if got := mustGet(t, s, "k"); string(got) != "b" {
		t.Fatalf("Get = %q; want %q", got, "b")
	}
}

func testSetReplacesOtherKind(t *testing.T, s store.Store) {
	mustPush(t, s, "k", 0, "x")
	mustSet(t, s, "k", []byte("v"), 0)
	if got := mustGet(t, s, "k"); string(got) != "v" {
		t.Fatalf("Get = %q; want %q", got, "v")
	}
}

func testDelete(t *testing.T, s store.Store) {
	mustSet(t, s, "a", []byte("1"), 0)
	mustSet(t, s, "b", []byte("2"), 0)
	mustSet(t, s, "c", []byte("3"), 0)
	if err := s.Delete(ctx(t), "a", "b", "missing"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, s, "a")
	wantNotFound(t, s, "b")
	if got := mustGet(t, s, "c"); string(got) != "3" {
		t.Fatalf("Get(c) = %q; want %q", got, "3")
	}
	if err := s.Delete(ctx(t), "missing"); err != nil {
		t.Fatalf("Delete(missing): %v", err)
	}
	if err := s.Delete(ctx(t)); err != nil {
		t.Fatalf("Delete(): %v", err)
	}
}

func testDeleteAnyKind(t *testing.T, s store.Store) {
	mustPush(t, s, "list", 0, "x")
	if _, err := s.SetAdd(ctx(t), "set", "m"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx(t), "counter", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx(t), "list", "set", "counter"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got := mustRange(t, s, "list", 0, -1); len(got) != 0 {
		t.Fatalf("list after Delete = %q; want empty", got)
	}
	if got := mustMembers(t, s, "set"); len(got) != 0 {
		t.Fatalf("set after Delete = %q; want empty", got)
	}
	wantNotFound(t, s, "counter")
}

func testIncrFromMissing(t *testing.T, s store.Store) {
	n, err := s.Incr(ctx(t), "c", 5)
	if err != nil || n != 5 {
		t.Fatalf("Incr(missing, 5) = %d, %v; want 5", n, err)
	}
	n, err = s.Incr(ctx(t), "c", 1)
	if err != nil || n != 6 {
		t.Fatalf("Incr(c, 1) = %d, %v; want 6", n, err)
	}
	// The counter is a base-10 string, readable with Get.
	if got := mustGet(t, s, "c"); string(got) != "6" {
		t.Fatalf("Get(c) = %q; want %q", got, "6")
	}
	n, err = s.Incr(ctx(t), "zero", 0)
	if err != nil || n != 0 {
		t.Fatalf("Incr(missing, 0) = %d, %v; want 0", n, err)
	}
}

func testIncrNegative(t *testing.T, s store.Store) {
	n, err := s.Incr(ctx(t), "c", -3)
	if err != nil || n != -3 {
		t.Fatalf("Incr(missing, -3) = %d, %v; want -3", n, err)
	}
	n, err = s.Incr(ctx(t), "c", 10)
	if err != nil || n != 7 {
		t.Fatalf("Incr(c, 10) = %d, %v; want 7", n, err)
	}
	if got := mustGet(t, s, "c"); string(got) != "7" {
		t.Fatalf("Get(c) = %q; want %q", got, "7")
	}
}

func testIncrReadsSetValue(t *testing.T, s store.Store) {
	mustSet(t, s, "c", []byte("41"), 0)
	n, err := s.Incr(ctx(t), "c", 1)
	if err != nil || n != 42 {
		t.Fatalf("Incr = %d, %v; want 42", n, err)
	}
	mustSet(t, s, "neg", []byte("-9223372036854775808"), 0)
	n, err = s.Incr(ctx(t), "neg", 1)
	if err != nil || n != -9223372036854775807 {
		t.Fatalf("Incr(min int64, 1) = %d, %v", n, err)
	}
}

func testIncrNotInteger(t *testing.T, s store.Store) {
	// Only the canonical form counts, as in Redis: no sign "+", no leading
	// zeros, no spaces.
	for _, v := range []string{"abc", "1.5", "", " 1", "1 ", "+1", "01", "-0", "99999999999999999999"} {
		mustSet(t, s, "c", []byte(v), 0)
		if n, err := s.Incr(ctx(t), "c", 1); err == nil {
			t.Errorf("Incr on %q = %d, nil; want an error", v, n)
		}
		// A failed Incr must not change the value.
		if got := mustGet(t, s, "c"); string(got) != v {
			t.Errorf("after failed Incr, Get = %q; want %q", got, v)
		}
	}
	mustSet(t, s, "max", []byte(strconv.FormatInt(1<<63-1, 10)), 0)
	if n, err := s.Incr(ctx(t), "max", 1); err == nil {
		t.Errorf("Incr overflowing int64 = %d, nil; want an error", n)
	}
}

func testIncrKeepsTTL(t *testing.T, s store.Store) {
	// Counters with a window (rate limits) rely on Incr keeping the ttl.
	if _, err := s.Incr(ctx(t), "c", 1); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Expire(ctx(t), "c", shortTTL); err != nil || !ok {
		t.Fatalf("Expire = %v, %v; want true", ok, err)
	}
	if _, err := s.Incr(ctx(t), "c", 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "counter with ttl expired", func() bool { return isNotFound(t, s, "c") })
}

func testIncrConcurrent(t *testing.T, s store.Store) {
	const workers, each = 8, 100
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := s.Incr(c, "c", 1); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Incr: %v", err)
	}
	n, err := s.Incr(ctx(t), "c", 0)
	if err != nil || n != workers*each {
		t.Fatalf("after %d concurrent Incr, value = %d, %v; want %d", workers*each, n, err, workers*each)
	}
}

func testExpireExisting(t *testing.T, s store.Store) {
	mustSet(t, s, "k", []byte("v"), 0)
	ok, err := s.Expire(ctx(t), "k", shortTTL)
	if err != nil || !ok {
		t.Fatalf("Expire(existing) = %v, %v; want true", ok, err)
	}
	eventually(t, "key expired after Expire", func() bool { return isNotFound(t, s, "k") })
	// Once expired the key is missing for Expire too.
	ok, err = s.Expire(ctx(t), "k", time.Minute)
	if err != nil || ok {
		t.Fatalf("Expire(expired) = %v, %v; want false", ok, err)
	}
}

func testExpireMissing(t *testing.T, s store.Store) {
	ok, err := s.Expire(ctx(t), "missing", time.Minute)
	if err != nil || ok {
		t.Fatalf("Expire(missing) = %v, %v; want false", ok, err)
	}
	ok, err = s.Expire(ctx(t), "missing", 0)
	if err != nil || ok {
		t.Fatalf("Expire(missing, 0) = %v, %v; want false", ok, err)
	}
	// Expire must not create the key.
	wantNotFound(t, s, "missing")
}

func testExpireZeroRemovesTTL(t *testing.T, s store.Store) {
	mustSet(t, s, "k", []byte("v"), shortTTL)
	ok, err := s.Expire(ctx(t), "k", 0)
	if err != nil || !ok {
		t.Fatalf("Expire(k, 0) = %v, %v; want true", ok, err)
	}
	time.Sleep(3 * shortTTL)
	if got := mustGet(t, s, "k"); string(got) != "v" {
		t.Fatalf("Get after removing ttl = %q; want %q", got, "v")
	}
	// Removing the ttl of a key that has none still reports that it exists.
	mustSet(t, s, "plain", []byte("v"), 0)
	ok, err = s.Expire(ctx(t), "plain", 0)
	if err != nil || !ok {
		t.Fatalf("Expire(plain, 0) = %v, %v; want true", ok, err)
	}
}

func testExpireList(t *testing.T, s store.Store) {
	// Expire works on every kind of key; presence uses it on sets.
	mustPush(t, s, "list", 0, "a")
	if _, err := s.SetAdd(ctx(t), "set", "m"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"list", "set"} {
		ok, err := s.Expire(ctx(t), k, shortTTL)
		if err != nil || !ok {
			t.Fatalf("Expire(%s) = %v, %v; want true", k, ok, err)
		}
	}
	eventually(t, "list and set expired", func() bool {
		return len(mustRange(t, s, "list", 0, -1)) == 0 && len(mustMembers(t, s, "set")) == 0
	})
}

func testListPushRange(t *testing.T, s store.Store) {
	if n := mustPush(t, s, "l", 0, "a", "b"); n != 2 {
		t.Fatalf("ListPush = %d; want 2", n)
	}
	if n := mustPush(t, s, "l", 0, "c"); n != 3 {
		t.Fatalf("ListPush = %d; want 3", n)
	}
	if got := mustRange(t, s, "l", 0, -1); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("ListRange = %q; want [a b c]", got)
	}
	// Binary elements, including an empty one, survive.
	bin := []byte{0, 255, '\n', 0}
	if _, err := s.ListPush(ctx(t), "bin", 0, bin, []byte{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListRange(ctx(t), "bin", 0, -1)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], bin) || len(got[1]) != 0 {
		t.Fatalf("ListRange(bin) = %q, %v", got, err)
	}
	// Pushing nothing reports the length and creates nothing.
	if n := mustPush(t, s, "l", 0); n != 3 {
		t.Fatalf("ListPush(no values) = %d; want 3", n)
	}
	if n := mustPush(t, s, "none", 0); n != 0 {
		t.Fatalf("ListPush(missing, no values) = %d; want 0", n)
	}
}

func testListPushMaxLen(t *testing.T, s store.Store) {
	for i := 1; i <= 5; i++ {
		n := mustPush(t, s, "l", 3, strconv.Itoa(i))
		if want := min(i, 3); n != want {
			t.Fatalf("push %d: ListPush = %d; want %d", i, n, want)
		}
	}
	if got := mustRange(t, s, "l", 0, -1); !slices.Equal(got, []string{"3", "4", "5"}) {
		t.Fatalf("ListRange = %q; want [3 4 5]", got)
	}
	// A negative maxLen means no limit, like zero.
	if n := mustPush(t, s, "l", -1, "6"); n != 4 {
		t.Fatalf("ListPush(maxLen -1) = %d; want 4", n)
	}
}

func testListPushMaxLenOneCall(t *testing.T, s store.Store) {
	mustPush(t, s, "l", 0, "a", "b")
	n := mustPush(t, s, "l", 3, "1", "2", "3", "4", "5")
	if n != 3 {
		t.Fatalf("ListPush = %d; want 3", n)
	}
	if got := mustRange(t, s, "l", 0, -1); !slices.Equal(got, []string{"3", "4", "5"}) {
		t.Fatalf("ListRange = %q; want [3 4 5]", got)
	}
	// Pushing nothing with a maxLen still trims.
	mustPush(t, s, "long", 0, "a", "b", "c", "d")
	if n := mustPush(t, s, "long", 2); n != 2 {
		t.Fatalf("ListPush(no values, maxLen 2) = %d; want 2", n)
	}
	if got := mustRange(t, s, "long", 0, -1); !slices.Equal(got, []string{"c", "d"}) {
		t.Fatalf("ListRange = %q; want [c d]", got)
	}
}

func testListPushConcurrentMaxLen(t *testing.T, s store.Store) {
	const workers, each, maxLen = 8, 50, 10
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n, err := s.ListPush(c, "l", maxLen, fmt.Appendf(nil, "%d:%d", w, i))
				if err == nil && (n < 1 || n > maxLen) {
					err = fmt.Errorf("ListPush returned length %d; want 1..%d", n, maxLen)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := mustRange(t, s, "l", 0, -1)
	if len(got) != maxLen {
		t.Fatalf("len = %d; want %d: %q", len(got), maxLen, got)
	}
	// The list holds the last maxLen pushes. Whatever the interleaving, that
	// means each worker's elements in it are the tail of its own sequence,
	// in order: if element i survived, so did every later one of that worker.
	next := make(map[int]int) // worker -> index its next element must have
	for _, e := range got {
		var w, i int
		if _, err := fmt.Sscanf(e, "%d:%d", &w, &i); err != nil {
			t.Fatalf("unexpected element %q", e)
		}
		if n, ok := next[w]; ok && i != n {
			t.Fatalf("worker %d: element %d follows %d; list %q", w, i, n-1, got)
		}
		next[w] = i + 1
	}
	for w, n := range next {
		if n != each {
			t.Fatalf("worker %d: last kept element is %d, but %d was pushed later; list %q", w, n-1, each-1, got)
		}
	}
}

func testListRangeIndexes(t *testing.T, s store.Store) {
	mustPush(t, s, "l", 0, "a", "b", "c", "d", "e")
	for _, tc := range []struct {
		start, stop int
		want        []string
	}{
		{0, -1, []string{"a", "b", "c", "d", "e"}},
		{0, 0, []string{"a"}},
		{1, 3, []string{"b", "c", "d"}},
		{-2, -1, []string{"d", "e"}},
		{-3, 3, []string{"c", "d"}},
		{-100, 1, []string{"a", "b"}},
		{3, 100, []string{"d", "e"}},
		{-100, 100, []string{"a", "b", "c", "d", "e"}},
		{3, 1, nil},
		{5, 10, nil},
		{-1, -2, nil},
		{0, -6, nil},
		{-100, -6, nil},
	} {
		got := mustRange(t, s, "l", tc.start, tc.stop)
		if !slices.Equal(got, tc.want) {
			t.Errorf("ListRange(%d, %d) = %q; want %q", tc.start, tc.stop, got, tc.want)
		}
	}
}

func testListRangeMissing(t *testing.T, s store.Store) {
	if got := mustRange(t, s, "missing", 0, -1); len(got) != 0 {
		t.Fatalf("ListRange(missing) = %q; want empty", got)
	}
}

func testListValuesAreCopied(t *testing.T, s store.Store) {
	v := []byte("abc")
	mustPush(t, s, "l", 0, string(v))
	if _, err := s.ListPush(ctx(t), "l2", 0, v); err != nil {
		t.Fatal(err)
	}
	v[0] = 'X'
	got, err := s.ListRange(ctx(t), "l2", 0, -1)
	if err != nil || len(got) != 1 || string(got[0]) != "abc" {
		t.Fatalf("ListRange after mutating pushed value = %q, %v; want [abc]", got, err)
	}
	got[0][0] = 'Y'
	if got := mustRange(t, s, "l2", 0, -1); !slices.Equal(got, []string{"abc"}) {
		t.Fatalf("ListRange after mutating result = %q; want [abc]", got)
	}
}

func testSetAddRemoveMembers(t *testing.T, s store.Store) {
	n, err := s.SetAdd(ctx(t), "s", "a", "b", "c")
	if err != nil || n != 3 {
		t.Fatalf("SetAdd = %d, %v; want 3", n, err)
	}
	n, err = s.SetAdd(ctx(t), "s", "b", "c", "d", "d")
	if err != nil || n != 1 {
		t.Fatalf("SetAdd(existing + new, dup) = %d, %v; want 1", n, err)
	}
	if got := mustMembers(t, s, "s"); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("SetMembers = %q; want [a b c d]", got)
	}
	n, err = s.SetRemove(ctx(t), "s", "a", "x", "b")
	if err != nil || n != 2 {
		t.Fatalf("SetRemove = %d, %v; want 2", n, err)
	}
	if got := mustMembers(t, s, "s"); !slices.Equal(got, []string{"c", "d"}) {
		t.Fatalf("SetMembers = %q; want [c d]", got)
	}
	n, err = s.SetRemove(ctx(t), "missing", "a")
	if err != nil || n != 0 {
		t.Fatalf("SetRemove(missing) = %d, %v; want 0", n, err)
	}
	n, err = s.SetAdd(ctx(t), "s")
	if err != nil || n != 0 {
		t.Fatalf("SetAdd(no members) = %d, %v; want 0", n, err)
	}
	n, err = s.SetRemove(ctx(t), "s")
	if err != nil || n != 0 {
		t.Fatalf("SetRemove(no members) = %d, %v; want 0", n, err)
	}
	// Members are arbitrary strings.
	odd := "\x00 é\n"
	if _, err := s.SetAdd(ctx(t), "odd", odd, ""); err != nil {
		t.Fatal(err)
	}
	if got := mustMembers(t, s, "odd"); !slices.Equal(got, []string{"", odd}) {
		t.Fatalf("SetMembers(odd) = %q", got)
	}
}

func testSetRemoveDeletesEmpty(t *testing.T, s store.Store) {
	if _, err := s.SetAdd(ctx(t), "s", "a"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SetRemove(ctx(t), "s", "a"); err != nil || n != 1 {
		t.Fatalf("SetRemove = %d, %v; want 1", n, err)
	}
	if got := mustMembers(t, s, "s"); len(got) != 0 {
		t.Fatalf("SetMembers = %q; want empty", got)
	}
	// The emptied set is gone, not an empty set: the key is free for any kind
	// of value, and Expire reports it missing.
	if ok, err := s.Expire(ctx(t), "s", time.Minute); err != nil || ok {
		t.Fatalf("Expire(emptied set) = %v, %v; want false", ok, err)
	}
	if _, err := s.Incr(ctx(t), "s", 1); err != nil {
		t.Fatalf("Incr on emptied set key: %v", err)
	}
}

func testSetMembersMissing(t *testing.T, s store.Store) {
	if got := mustMembers(t, s, "missing"); len(got) != 0 {
		t.Fatalf("SetMembers(missing) = %q; want empty", got)
	}
}

func testWrongType(t *testing.T, s store.Store) {
	mustSet(t, s, "str", []byte("1"), 0)
	mustPush(t, s, "list", 0, "x")
	if _, err := s.SetAdd(ctx(t), "set", "m"); err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Get(list)", func() error { _, err := s.Get(c, "list"); return err }},
		{"Get(set)", func() error { _, err := s.Get(c, "set"); return err }},
		{"Incr(list)", func() error { _, err := s.Incr(c, "list", 1); return err }},
		{"Incr(set)", func() error { _, err := s.Incr(c, "set", 1); return err }},
		{"ListPush(string)", func() error { _, err := s.ListPush(c, "str", 0, []byte("x")); return err }},
		{"ListPush(set)", func() error { _, err := s.ListPush(c, "set", 5, []byte("x")); return err }},
		{"ListRange(string)", func() error { _, err := s.ListRange(c, "str", 0, -1); return err }},
		{"ListRange(set)", func() error { _, err := s.ListRange(c, "set", 0, -1); return err }},
		{"SetAdd(string)", func() error { _, err := s.SetAdd(c, "str", "m"); return err }},
		{"SetAdd(list)", func() error { _, err := s.SetAdd(c, "list", "m"); return err }},
		{"SetRemove(string)", func() error { _, err := s.SetRemove(c, "str", "m"); return err }},
		{"SetRemove(list)", func() error { _, err := s.SetRemove(c, "list", "m"); return err }},
		{"SetMembers(string)", func() error { _, err := s.SetMembers(c, "str"); return err }},
		{"SetMembers(list)", func() error { _, err := s.SetMembers(c, "list"); return err }},
	} {
		if err := tc.call(); !errors.Is(err, store.ErrWrongType) {
			t.Errorf("%s: err = %v; want store.ErrWrongType", tc.name, err)
		}
	}
	// The failed calls left every key as it was.
	if got := mustGet(t, s, "str"); string(got) != "1" {
		t.Errorf("Get(str) = %q; want %q", got, "1")
	}
	if got := mustRange(t, s, "list", 0, -1); !slices.Equal(got, []string{"x"}) {
		t.Errorf("ListRange(list) = %q; want [x]", got)
	}
	if got := mustMembers(t, s, "set"); !slices.Equal(got, []string{"m"}) {
		t.Errorf("SetMembers(set) = %q; want [m]", got)
	}
}

// calls returns one call of every method but Close, for the tests that check
// every method fails the same way.
func calls(s store.Store, c context.Context) []struct {
	name string
	call func() error
} {
	return []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(c, "k"); return err }},
		{"Set", func() error { return s.Set(c, "k", []byte("v"), 0) }},
		{"Delete", func() error { return s.Delete(c, "k") }},
		{"Incr", func() error { _, err := s.Incr(c, "n", 1); return err }},
		{"Expire", func() error { _, err := s.Expire(c, "k", time.Minute); return err }},
		{"ListPush", func() error { _, err := s.ListPush(c, "l", 5, []byte("x")); return err }},
		{"ListRange", func() error { _, err := s.ListRange(c, "l", 0, -1); return err }},
		{"SetAdd", func() error { _, err := s.SetAdd(c, "s", "m"); return err }},
		{"SetRemove", func() error { _, err := s.SetRemove(c, "s", "m"); return err }},
		{"SetMembers", func() error { _, err := s.SetMembers(c, "s"); return err }},
	}
}

func testCancelledContext(t *testing.T, s store.Store) {
	c, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range calls(s, c) {
		if err := tc.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: err = %v; want context.Canceled", tc.name, err)
		}
	}
	// Nothing was written.
	wantNotFound(t, s, "k")
	wantNotFound(t, s, "n")
}

func testExpiredContext(t *testing.T, s store.Store) {
	c, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	for _, tc := range calls(s, c) {
		if err := tc.call(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with an expired context: err = %v; want context.DeadlineExceeded", tc.name, err)
		}
	}
}

func testAfterClose(t *testing.T, s store.Store) {
	mustSet(t, s, "k", []byte("v"), 0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, tc := range calls(s, ctx(t)) {
		if err := tc.call(); err == nil {
			t.Errorf("%s after Close: err = nil; want an error", tc.name)
		}
	}
}

func mustPushFront(t *testing.T, s store.FrontPusher, key string, maxLen int, values ...string) int {
	t.Helper()
	n, err := s.ListPushFront(ctx(t), key, maxLen, bs(values...)...)
	if err != nil {
		t.Fatalf("ListPushFront(%q): %v", key, err)
	}
	return n
}

func testListPushFrontRange(t *testing.T, fp store.FrontPusher) {
	s := fp.(store.Store)
	if n := mustPushFront(t, fp, "l", 0, "a", "b"); n != 2 {
		t.Fatalf("ListPushFront = %d; want 2", n)
	}
	if n := mustPushFront(t, fp, "l", 0, "c"); n != 3 {
		t.Fatalf("ListPushFront = %d; want 3", n)
	}
	// As with LPUSH, each value goes to the front in turn.
	if got := mustRange(t, s, "l", 0, -1); !slices.Equal(got, []string{"c", "b", "a"}) {
		t.Fatalf("ListRange = %q; want [c b a]", got)
	}
	// Both ends of one list: ListPush appends at the back.
	mustPush(t, s, "l", 0, "z")
	if got := mustRange(t, s, "l", 0, -1); !slices.Equal(got, []string{"c", "b", "a", "z"}) {
		t.Fatalf("ListRange = %q; want [c b a z]", got)
	}
	bin := []byte{0, 255, '\n', 0}
	if _, err := fp.ListPushFront(ctx(t), "bin", 0, bin, []byte{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListRange(ctx(t), "bin", 0, -1)
	if err != nil || len(got) != 2 || len(got[0]) != 0 || !bytes.Equal(got[1], bin) {
		t.Fatalf("ListRange(bin) = %q, %v", got, err)
	}
	if n := mustPushFront(t, fp, "none", 0); n != 0 {
		t.Fatalf("ListPushFront(missing, no values) = %d; want 0", n)
	}
	if got := mustRange(t, s, "none", 0, -1); len(got) != 0 {
		t.Fatalf("ListPushFront with no values created %q", got)
	}
}

func testListPushFrontMaxLen(t *testing.T, fp store.FrontPusher) {
	s := fp.(store.Store)
	for i := 1; i <= 5; i++ {
		n := mustPushFront(t, fp, "l", 3, strconv.Itoa(i))
		if want := min(i, 3); n != want {
			t.Fatalf("push %d: ListPushFront = %d; want %d", i, n, want)
		}
	}
	// The newest three, newest first.
	if got := mustRange(t, s, "l", 0, -1); !slices.Equal(got, []string{"5", "4", "3"}) {
		t.Fatalf("ListRange = %q; want [5 4 3]", got)
	}
	if n := mustPushFront(t, fp, "l", -1, "6"); n != 4 {
		t.Fatalf("ListPushFront(maxLen -1) = %d; want 4", n)
	}
}

func testListPushFrontMaxLenOneCall(t *testing.T, fp store.FrontPusher) {
	s := fp.(store.Store)
	mustPushFront(t, fp, "l", 0, "a", "b")
	if n := mustPushFront(t, fp, "l", 3, "1", "2", "3", "4", "5"); n != 3 {
		t.Fatalf("ListPushFront = %d; want 3", n)
	}
	if got := mustRange(t, s, "l", 0, -1); !slices.Equal(got, []string{"5", "4", "3"}) {
		t.Fatalf("ListRange = %q; want [5 4 3]", got)
	}
	mustPushFront(t, fp, "m", 0, "a", "b")
	if n := mustPushFront(t, fp, "m", 3, "c", "d"); n != 3 {
		t.Fatalf("ListPushFront = %d; want 3", n)
	}
	if got := mustRange(t, s, "m", 0, -1); !slices.Equal(got, []string{"d", "c", "b"}) {
		t.Fatalf("ListRange = %q; want [d c b]", got)
	}
	// Pushing nothing with a maxLen still trims, from the back.
	if n := mustPushFront(t, fp, "m", 2); n != 2 {
		t.Fatalf("ListPushFront(no values, maxLen 2) = %d; want 2", n)
	}
	if got := mustRange(t, s, "m", 0, -1); !slices.Equal(got, []string{"d", "c"}) {
		t.Fatalf("ListRange = %q; want [d c]", got)
	}
}

func testListPushFrontWrongType(t *testing.T, fp store.FrontPusher) {
	s := fp.(store.Store)
	mustSet(t, s, "str", []byte("x"), 0)
	if _, err := fp.ListPushFront(ctx(t), "str", 0, []byte("a")); !errors.Is(err, store.ErrWrongType) {
		t.Fatalf("ListPushFront on a string = %v; want ErrWrongType", err)
	}
	if got := mustGet(t, s, "str"); string(got) != "x" {
		t.Fatalf("the string changed to %q", got)
	}
}

func testListPushFrontConcurrentMaxLen(t *testing.T, fp store.FrontPusher) {
	const workers, each, maxLen = 8, 50, 10
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n, err := fp.ListPushFront(c, "l", maxLen, fmt.Appendf(nil, "%d:%d", w, i))
				if err == nil && (n < 1 || n > maxLen) {
					err = fmt.Errorf("ListPushFront returned length %d; want 1..%d", n, maxLen)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := mustRange(t, fp.(store.Store), "l", 0, -1)
	if len(got) != maxLen {
		t.Fatalf("len = %d; want %d: %q", len(got), maxLen, got)
	}
	// Newest first: each worker's elements, read from the back, are the
	// tail of its own sequence in order, ending with its last push.
	next := make(map[int]int)
	for _, e := range slices.Backward(got) {
		var w, i int
		if _, err := fmt.Sscanf(e, "%d:%d", &w, &i); err != nil {
			t.Fatalf("unexpected element %q", e)
		}
		if n, ok := next[w]; ok && i != n {
			t.Fatalf("worker %d: element %d is newer than %d; list %q", w, n-1, i, got)
		}
		next[w] = i + 1
	}
	for w, n := range next {
		if n != each {
			t.Fatalf("worker %d: newest kept element is %d, but %d was pushed later; list %q", w, n-1, each-1, got)
		}
	}
}
