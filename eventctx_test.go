package realtime_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

type labelKey struct{}

// label is a stage that hands the handler a value of its own through the
// event's context.
func label(v string) func(realtime.Handler) realtime.Handler {
	return func(next realtime.Handler) realtime.Handler {
		return func(c *realtime.Ctx) error {
			c.SetContext(context.WithValue(c.Context(), labelKey{}, v))
			return next(c)
		}
	}
}

func labelOf(c *realtime.Ctx) string {
	v, _ := c.Context().Value(labelKey{}).(string)
	return v
}

// TestSetContextHandsValuesToTheHandler: a value a stage puts in the event's
// context reaches the handler, and only for that event: the Ctx is
// recycled, and the next event of the socket, through a chain without the
// stage, starts from the socket's context again.
func TestSetContextHandsValuesToTheHandler(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	read := func(c *realtime.Ctx) error {
		if c.Context().Done() == nil {
			return fmt.Errorf("the event's context is not cancellable")
		}
		return c.Ack(labelOf(c))
	}
	mux.With(label("a"), label("b")).On("labelled", read)
	mux.On("bare", read)
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/")
	for i := range 50 {
		got, err := cl.Request(testkit.Context(t), "labelled", nil)
		if err != nil || string(got) != `"b"` {
			t.Fatalf("round %d: labelled event: %s, %v; want the innermost stage's value", i, got, err)
		}
		got, err = cl.Request(testkit.Context(t), "bare", nil)
		if err != nil || string(got) != `""` {
			t.Fatalf("round %d: the next event saw %s, %v; want no value", i, got, err)
		}
	}
}

// TestEventContextEndsWithTheSocket: the context a stage derives from the
// event's may be kept after the handler returns, and is cancelled when the
// socket closes.
func TestEventContextEndsWithTheSocket(t *testing.T) {
	kept := make(chan context.Context, 1)
	mux := realtime.New(quiet(realtime.Config{}))
	mux.With(label("kept")).On("keep", func(c *realtime.Ctx) error {
		kept <- c.Context()
		return nil
	})
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/")
	if _, err := cl.Request(testkit.Context(t), "keep", nil); err != nil {
		t.Fatal(err)
	}
	ctx := receive(t, kept, "the event's context")
	if v, _ := ctx.Value(labelKey{}).(string); v != "kept" {
		t.Fatalf("the kept context holds %q", v)
	}
	if ctx.Err() != nil {
		t.Fatalf("the context ended with the event: %v", ctx.Err())
	}
	cl.Close()
	receive(t, ctx.Done(), "the end of the context after the socket closed")
}

// TestSetContextNil: a nil context is a programming error, reported as a
// panic with a realtime message rather than a nil Context later.
func TestSetContextNil(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.On("nil", func(c *realtime.Ctx) (err error) {
		defer func() { err = c.Ack(fmt.Sprint(recover())) }()
		c.SetContext(nil)
		return nil
	})
	srv := realtimetest.NewServer(t, mux)
	got, err := dial(t, srv, "/").Request(testkit.Context(t), "nil", nil)
	if err != nil || string(got) != `"realtime: SetContext with a nil context"` {
		t.Fatalf("SetContext(nil): %s, %v", got, err)
	}
}
