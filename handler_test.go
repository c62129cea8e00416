package realtime_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

func failingMux() *realtime.Mux {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.On("boom", func(c *realtime.Ctx) error { panic("secret internals at 10.0.0.7") })
	mux.On("fail", func(c *realtime.Ctx) error { return errors.New("db password wrong") })
	mux.On("wrapped", func(c *realtime.Ctx) error {
		return errors.Join(errors.New("lookup failed"), realtime.NewError("ROOM_NOT_FOUND", "no such room", nil))
	})
	mux.On("nope", func(c *realtime.Ctx) error {
		return c.Error("ROOM_NOT_FOUND", "no such room", map[string]string{"room": "x"})
	})
	mux.On("ackThenFail", func(c *realtime.Ctx) error {
		if err := c.Ack("done"); err != nil {
			return err
		}
		return errors.New("after the ack")
	})
	return mux
}

// Each failing handler gives exactly one __loly:error with the expected
// object (and the same object in the ack), nothing internal, and the
// socket keeps serving.
func TestHandlerErrors(t *testing.T) {
	srv := realtimetest.NewServer(t, failingMux())
	tests := []struct {
		event, code, message string
		details              any
	}{
		{event: "boom", code: realtime.CodeInternal, message: "internal error"},
		{event: "fail", code: realtime.CodeInternal, message: "internal error"},
		{event: "wrapped", code: "ROOM_NOT_FOUND", message: "no such room"},
		{event: "nope", code: "ROOM_NOT_FOUND", message: "no such room", details: map[string]any{"room": "x"}},
	}
	for _, tt := range tests {
		for _, acked := range []bool{false, true} {
			name := tt.event
			if acked {
				name += " with ack"
			}
			t.Run(name, func(t *testing.T) {
				cl := dial(t, srv, "/")
				var ackErr error
				if acked {
					_, ackErr = cl.Request(testkit.Context(t), tt.event, nil)
				} else if err := cl.Emit(tt.event, nil); err != nil {
					t.Fatal(err)
				}
				syncEcho(t, cl)
				// Nothing else may follow late.
				time.Sleep(100 * time.Millisecond)
				evs := cl.Events()
				if len(evs) != 1 || evs[0].Event != realtime.EventError {
					t.Fatalf("want exactly one %s, got %s", realtime.EventError, raws(evs))
				}
				if strings.Contains(string(evs[0].Raw), "secret") || strings.Contains(string(evs[0].Raw), "password") {
					t.Fatalf("internals leaked: %s", evs[0].Raw)
				}
				e, _ := evs[0].ErrorData()
				want := &realtime.Error{Code: tt.code, Message: tt.message, Event: tt.event, Details: tt.details}
				if !reflect.DeepEqual(e, want) {
					t.Fatalf("error %+v, want %+v", e, want)
				}
				if acked {
					var got *realtime.Error
					if !errors.As(ackErr, &got) || !reflect.DeepEqual(got, want) {
						t.Fatalf("ack error %#v, want %+v", ackErr, want)
					}
				}
			})
		}
	}
}

// A handler that acked and then failed still reports the failure, but the
// client's single ack is the successful one.
func TestAckThenFail(t *testing.T) {
	srv := realtimetest.NewServer(t, failingMux())
	cl := dial(t, srv, "/")
	got, err := cl.Request(testkit.Context(t), "ackThenFail", nil)
	if err != nil || string(got) != `"done"` {
		t.Fatalf("ack: %s, %v", got, err)
	}
	e := waitError(t, cl)
	if e.Code != realtime.CodeInternal || e.Event != "ackThenFail" {
		t.Fatalf("error %+v", e)
	}
}

func TestAcks(t *testing.T) {
	secondAck := make(chan error, 1)
	mux := realtime.New(quiet(realtime.Config{}))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.On("quiet", func(c *realtime.Ctx) error { return nil })
	mux.On("twice", func(c *realtime.Ctx) error {
		if err := c.Ack(1); err != nil {
			return err
		}
		secondAck <- c.Ack(2)
		return nil
	})
	mux.On("noid", func(c *realtime.Ctx) error {
		if c.AckID() != 0 || c.Acked() {
			return errors.New("ack state without an id")
		}
		return c.Ack("ignored")
	})
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/")

	t.Run("auto ack without data", func(t *testing.T) {
		id := cl.NextAckID()
		if err := cl.SendRaw([]byte(`{"event":"quiet","id":` + itoa(id) + `}`)); err != nil {
			t.Fatal(err)
		}
		m, err := cl.WaitAck(testkit.Context(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Raw) != `{"ack":`+itoa(id)+`}` {
			t.Fatalf("auto ack %s, want no data and no error", m.Raw)
		}
	})
	t.Run("second ack is an error", func(t *testing.T) {
		got, err := cl.Request(testkit.Context(t), "twice", nil)
		if err != nil || string(got) != "1" {
			t.Fatalf("ack: %s, %v", got, err)
		}
		if err := receive(t, secondAck, "the second Ack"); err == nil {
			t.Fatal("a second Ack returned nil")
		}
	})
	t.Run("no id, no ack", func(t *testing.T) {
		if err := cl.Emit("noid", nil); err != nil {
			t.Fatal(err)
		}
		syncEcho(t, cl)
		if evs := cl.Events(); len(evs) != 0 {
			t.Fatalf("unexpected envelopes: %s", raws(evs))
		}
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
