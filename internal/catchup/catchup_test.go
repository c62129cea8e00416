package catchup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lolyjs/realtime/history"
)

// log is a room's history for the router to read from.
type testLog struct {
	mu    sync.Mutex
	items map[string][]Item
	fail  map[string]bool
}

func (l *testLog) read(_ context.Context, room string, after history.Position) ([]Item, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail[room] {
		return nil, errors.New("gone")
	}
	var out []Item
	for _, it := range l.items[room] {
		if it.Pos.Seq > after.Seq {
			out = append(out, it)
		}
	}
	return out, nil
}

func newRouter(l *testLog) (*Router, func() []string) {
	var mu sync.Mutex
	var got []string
	r := &Router{
		Deliver: func(it Item) {
			mu.Lock()
			got = append(got, fmt.Sprint(it.Room, it.Pos.Seq))
			mu.Unlock()
		},
		Read: l.read,
		Lost: func(string, error) {},
	}
	return r, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

func item(room string, seq, prev uint64) Item {
	return Item{Room: room, Pos: history.Position{Epoch: "e", Seq: seq}, Prev: prev}
}

func waitFor(t *testing.T, got func() []string, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for fmt.Sprint(got()) != want {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %v, want %s", got(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A message that skips some of its room's makes the router read the
// missing ones first; duplicates are dropped; other rooms wait meanwhile
// and keep their order.
func TestGapIsFilledInOrder(t *testing.T) {
	l := &testLog{items: map[string][]Item{"a": {item("a", 1, 0), item("a", 2, 1), item("a", 4, 2), item("a", 6, 4)}}}
	r, got := newRouter(l)
	r.Accept(item("a", 1, 0))
	r.Accept(item("a", 6, 4)) // 2 and 4 were lost
	r.Accept(item("b", 7, 0))
	r.Accept(item("a", 4, 2)) // late duplicate
	waitFor(t, got, "[a1 a2 a4 a6 b7]")
}

// Resume reads what every room missed; a room whose history cannot be read
// starts again from its next message.
func TestResume(t *testing.T) {
	l := &testLog{items: map[string][]Item{"a": {item("a", 1, 0), item("a", 3, 1)}}, fail: map[string]bool{"b": true}}
	r, got := newRouter(l)
	r.Accept(item("a", 1, 0))
	r.Accept(item("b", 2, 0))
	r.Resume()
	waitFor(t, got, "[a1 b2 a3]")
	r.Accept(item("b", 9, 5)) // b forgot its last: no catch-up, no wait
	waitFor(t, got, "[a1 b2 a3 b9]")
}
