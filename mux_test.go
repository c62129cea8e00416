package realtime_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

func echoMux() *realtime.Mux {
	mux := realtime.New(realtime.Config{})
	mux.On("echo", func(c *realtime.Ctx) error {
		var v any
		if err := c.Bind(&v); err != nil {
			return err
		}
		return c.Ack(v)
	})
	mux.On("say", func(c *realtime.Ctx) error { return c.Reply("said", json.RawMessage(c.Data())) })
	mux.On("boom", func(c *realtime.Ctx) error { panic("secret internals") })
	mux.On("fail", func(c *realtime.Ctx) error { return errors.New("db password wrong") })
	mux.On("nope", func(c *realtime.Ctx) error {
		return c.Error("ROOM_NOT_FOUND", "no such room", map[string]string{"room": "x"})
	})
	return mux
}

func TestEchoAndReply(t *testing.T) {
	srv := realtimetest.NewServer(t, echoMux())
	cl := realtimetest.MustDial(t, srv.URL("/"), nil)
	if cl.SocketID == "" || cl.Namespace != "/" {
		t.Fatalf("connected info: %q %q", cl.SocketID, cl.Namespace)
	}
	got, err := cl.Request(testkit.Context(t), "echo", map[string]int{"n": 1})
	if err != nil || string(got) != `{"n":1}` {
		t.Fatalf("echo: %s %v", got, err)
	}
	if err := cl.Emit("say", "hi"); err != nil {
		t.Fatal(err)
	}
	m, err := cl.Wait(testkit.Context(t), "said")
	if err != nil || string(m.Data) != `"hi"` {
		t.Fatalf("said: %s %v", m.Data, err)
	}
}
