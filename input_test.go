package realtime_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"context"
	"reflect"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// hostileMaxPayload is the frame limit of the hostile-input server: large
// enough for a 100,000-element array, so that the array is judged on its
// shape and not on its size.
const hostileMaxPayload = 256 << 10

// hostileMux is a server on the standard middleware stack, with an event for
// each row of the protocol's error table.
func hostileMux() *realtime.Mux {
	mux := realtime.New(quiet(realtime.Config{MaxPayloadBytes: hostileMaxPayload, Limits: realtime.Limits{ConnectionsPerIP: 1000}}))
	mux.Use(middleware.RequestID, middleware.Recoverer, middleware.Auth(bindHeaderUser),
		middleware.Validate, middleware.Guard, middleware.RateLimit(middleware.RateLimitOpts{}))
	mux.On("echo", func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) })
	mux.On("size", func(c *realtime.Ctx) error {
		var elems []json.RawMessage
		_ = json.Unmarshal(c.Data(), &elems)
		return c.Ack(map[string]int{"bytes": len(c.Data()), "elements": len(elems)})
	})
	mux.Handle("typed", realtime.Event{Schema: realtime.JSON[point](), Handler: realtime.Typed(func(c *realtime.Ctx, p point) error {
		return c.Ack(p)
	})})
	mux.Handle("secret", realtime.Event{
		Guard:   func(*realtime.Ctx) (bool, error) { return false, nil },
		Handler: func(c *realtime.Ctx) error { return c.Ack("you should not see this") },
	})
	mux.With(middleware.RequireUser).On("mine", func(c *realtime.Ctx) error { return c.Ack(c.UserID()) })
	mux.On("crash", func(c *realtime.Ctx) error { panic("db password hunter2 at 10.0.0.7:5432") })
	mux.On("fail", func(c *realtime.Ctx) error {
		return errors.New("pq: password authentication failed for user admin at 10.0.0.7:5432")
	})
	mux.On("room", func(c *realtime.Ctx) error {
		return c.Error("ROOM_NOT_FOUND", "no such room", map[string]string{"room": "r9"})
	})
	mux.Handle("limited", realtime.Event{RateLimit: &realtime.Rate{EventsPerSecond: 0.1, Burst: 1},
		Handler: func(c *realtime.Ctx) error { return nil }})
	mux.Route(realtime.Route{Namespace: "/private",
		Auth: func(c *realtime.Ctx) (*realtime.User, error) {
			if id := c.Request().Header.Get("X-User"); id != "" {
				return &realtime.User{ID: id}, nil
			}
			return nil, errors.New("no session for token abc (lookup failed at 10.0.0.7)")
		},
		Events: map[string]realtime.Event{"echo": {Handler: func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) }}},
	})
	mux.Route(realtime.Route{Namespace: "/vip",
		Guard:  func(c *realtime.Ctx) (bool, error) { return c.UserID() == "vip", nil },
		Events: map[string]realtime.Event{"echo": {Handler: func(c *realtime.Ctx) error { return c.Ack(json.RawMessage(c.Data())) }}},
	})
	return mux
}

// hostileRow is one bad input and its defined answer.
type hostileRow struct {
	name string
	// ns is the namespace to connect to ("/" when empty); header goes with
	// the handshake.
	ns     string
	header http.Header
	// connectClose is the close code expected at connect, for refused
	// handshakes (then send is not called).
	connectClose uint16
	// send writes the input.
	send func(rc *rawConn) error
	// code is the one __loly:error expected ("" for none); event is the
	// event it must name.
	code, event string
	// ack is an id whose ack must carry the error.
	ack int64
	// close is the close code expected (0: the socket stays open and must
	// keep serving).
	close uint16
	// check looks further at what the server sent before the sync ack.
	check func(t *testing.T, got []rawEnvelope)
}

func textRow(frame string) func(rc *rawConn) error {
	return func(rc *rawConn) error { return rc.text(frame) }
}

// nested returns depth levels of arrays around 0.
func nested(depth int) string {
	return strings.Repeat("[", depth) + "0" + strings.Repeat("]", depth)
}

// bigArray returns a JSON array of n zeros.
func bigArray(n int) string {
	var b strings.Builder
	b.Grow(2 * n)
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('0')
	}
	b.WriteByte(']')
	return b.String()
}

// frameOf returns an echo envelope of exactly size bytes.
func frameOf(size int, id int64) string {
	head := `{"event":"echo","id":` + strconv.FormatInt(id, 10) + `,"data":"`
	return head + strings.Repeat("x", size-len(head)-len(`"}`)) + `"}`
}

// fragments sends frame as n text fragments: a text frame without FIN, then
// continuation frames, the last with FIN. between, when set, is sent after
// the first fragment.
func fragments(frame string, n int, between func(rc *rawConn) error) func(rc *rawConn) error {
	return func(rc *rawConn) error {
		step := (len(frame) + n - 1) / n
		for i := 0; i < n; i++ {
			lo, hi := i*step, min((i+1)*step, len(frame))
			op := opCont
			if i == 0 {
				op = opText
			}
			if err := rc.writeFrame(i == n-1, op, []byte(frame[lo:hi]), true, 0); err != nil {
				return err
			}
			if i == 0 && between != nil {
				if err := between(rc); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

func ackIs(want string) func(t *testing.T, got []rawEnvelope) {
	return func(t *testing.T, got []rawEnvelope) {
		t.Helper()
		for _, env := range got {
			if env.Ack > 0 && env.Error == nil {
				if string(env.Data) != want {
					t.Fatalf("ack data %s, want %s", env.Data, want)
				}
				return
			}
		}
		t.Fatalf("no ack with data among %d envelopes", len(got))
	}
}

// The hostile-input matrix: each row sends one bad input through a real
// socket and checks the defined answer, that nothing else came back, and
// that the socket (or, where the answer is a close, the server) still
// serves valid traffic.
func TestHostileInputMatrix(t *testing.T) {
	srv := realtimetest.NewServer(t, hostileMux())
	tenKB := strings.Repeat("e", 10<<10)
	rows := []hostileRow{
		// Every row of the protocol's error table.
		{name: "BAD_MESSAGE: malformed JSON", send: textRow(`{"event":"echo",`), code: realtime.CodeBadMessage},
		{name: "BAD_MESSAGE: binary frame", send: func(rc *rawConn) error {
			return rc.writeFrame(true, opBinary, []byte(`{"event":"echo"}`), true, 0)
		}, code: realtime.CodeBadMessage},
		{name: "BAD_MESSAGE: reserved name, acked", send: textRow(`{"event":"__loly:connected","id":5}`),
			code: realtime.CodeBadMessage, event: "__loly:connected", ack: 5},
		{name: "UNKNOWN_EVENT", send: textRow(`{"event":"nope","id":6}`), code: realtime.CodeUnknownEvent, event: "nope", ack: 6},
		{name: "BAD_PAYLOAD", send: textRow(`{"event":"typed","data":{"n":"x"},"id":7}`), code: realtime.CodeBadPayload, event: "typed", ack: 7},
		{name: "UNAUTHORIZED: event needs a user", send: textRow(`{"event":"mine","id":8}`), code: realtime.CodeUnauthorized, event: "mine", ack: 8},
		{name: "UNAUTHORIZED at connect: 4401", ns: "/private", connectClose: realtime.CloseUnauthorized},
		{name: "FORBIDDEN: guard", send: textRow(`{"event":"secret","id":9}`), code: realtime.CodeForbidden, event: "secret", ack: 9},
		{name: "FORBIDDEN at connect: 4403", ns: "/vip", header: http.Header{"X-User": {"pleb"}}, connectClose: realtime.CloseForbidden},
		{name: "RATE_LIMIT: event limit", send: textRow(`{"event":"limited","id":10}` + "\n" + `{"event":"limited","id":11}`),
			code: realtime.CodeRateLimit, event: "limited", ack: 11},
		{name: "INTERNAL_ERROR: panic", send: textRow(`{"event":"crash","id":12}`), code: realtime.CodeInternal, event: "crash", ack: 12},
		{name: "INTERNAL_ERROR: error", send: textRow(`{"event":"fail","id":13}`), code: realtime.CodeInternal, event: "fail", ack: 13},
		{name: "application code", send: textRow(`{"event":"room","id":14}`), code: "ROOM_NOT_FOUND", event: "room", ack: 14},

		// Shapes of JSON.
		{name: "nesting depth 10,000 in data (past encoding/json's limit)",
			send: textRow(`{"event":"size","id":20,"data":` + nested(10000) + `}`), code: realtime.CodeBadMessage},
		{name: "nesting depth 9,998 in data is accepted",
			send:  textRow(`{"event":"size","id":21,"data":` + nested(9998) + `}`),
			check: ackIs(`{"bytes":` + strconv.Itoa(len(nested(9998))) + `,"elements":1}`)},
		{name: "nesting depth 9,998 into a struct",
			send: textRow(`{"event":"typed","id":22,"data":` + nested(9998) + `}`), code: realtime.CodeBadPayload, event: "typed", ack: 22},
		{name: "100,000-element array", send: textRow(`{"event":"size","id":23,"data":` + bigArray(100000) + `}`),
			check: ackIs(`{"bytes":200001,"elements":100000}`)},
		{name: "100,000-element array into a struct",
			send: textRow(`{"event":"typed","id":24,"data":` + bigArray(100000) + `}`), code: realtime.CodeBadPayload, event: "typed", ack: 24},
		{name: "huge number as data is kept exactly", send: textRow(`{"event":"echo","id":25,"data":1e999999}`), check: ackIs(`1e999999`)},
		{name: "10,000-digit integer as data is kept exactly",
			send: textRow(`{"event":"echo","id":26,"data":` + strings.Repeat("9", 10000) + `}`), check: ackIs(strings.Repeat("9", 10000))},
		{name: "huge number into an int field", send: textRow(`{"event":"typed","id":27,"data":{"n":1e999999}}`),
			code: realtime.CodeBadPayload, event: "typed", ack: 27},
		{name: "ack id past int64", send: textRow(`{"event":"echo","id":9223372036854775808}`), code: realtime.CodeBadMessage, event: "echo"},
		{name: "duplicate keys: the last wins, for the router as for the schema",
			send:  textRow(`{"event":"nope","event":"typed","id":28,"data":{"n":1,"n":2,"s":"a"}}`),
			check: ackIs(`{"n":2,"s":"a"}`)},
		{name: "10 KB event name: refused, not echoed back", send: textRow(`{"event":"` + tenKB + `","id":29}`),
			code: realtime.CodeBadMessage, ack: 29, check: func(t *testing.T, got []rawEnvelope) {
				for _, env := range got {
					if len(env.Raw) > 1024 {
						t.Fatalf("a %d-byte answer to a 10 KB event name: %.200s...", len(env.Raw), env.Raw)
					}
				}
			}},
		{name: "raw NUL byte", send: textRow("{\"event\":\"echo\",\x00\"id\":30}"), code: realtime.CodeBadMessage},
		{name: "escaped NUL in the event name", send: textRow(`{"event":"ec\u0000ho","id":31}`),
			code: realtime.CodeUnknownEvent, event: "ec\x00ho", ack: 31},
		{name: "escaped NUL in data is kept", send: textRow(`{"event":"echo","id":32,"data":"a\u0000b"}`), check: ackIs(`"a\u0000b"`)},
		{name: "invalid UTF-8", send: textRow("{\"event\":\"echo\",\"id\":33,\"data\":\"\xc3\x28\"}"), code: realtime.CodeBadMessage},
		{name: "UTF-8-encoded surrogate", send: textRow("{\"event\":\"echo\",\"data\":\"\xed\xa0\x80\"}"), code: realtime.CodeBadMessage},
		{name: "overlong UTF-8", send: textRow("{\"event\":\"echo\",\"data\":\"\xc0\xaf\"}"), code: realtime.CodeBadMessage},
		{name: "escaped lone surrogate in raw data is passed on as sent", send: textRow(`{"event":"echo","id":34,"data":"\ud800"}`), check: ackIs(`"\ud800"`)},
		{name: "escaped lone surrogate decoded into a struct becomes U+FFFD",
			send: textRow(`{"event":"typed","id":35,"data":{"s":"\ud800"}}`), check: ackIs("{\"n\":0,\"s\":\"\uFFFD\"}")},

		// Frames.
		{name: "fragmented message: three fragments", send: fragments(`{"event":"echo","id":40,"data":"in three parts"}`, 3, nil),
			check: ackIs(`"in three parts"`)},
		{name: "fragmented message with a ping between fragments",
			send: fragments(`{"event":"echo","id":41,"data":"pinged"}`, 2, func(rc *rawConn) error {
				return rc.writeFrame(true, opPing, []byte("mid"), true, 0)
			}),
			check: ackIs(`"pinged"`)},
		{name: "fragments of many envelopes, split inside envelopes",
			send: fragments(`{"event":"echo","id":42,"data":1}`+"\n"+`{"event":"nope"}`+"\n"+`{"event":"echo","id":43,"data":2}`, 7, nil),
			code: realtime.CodeUnknownEvent, event: "nope"},
		{name: "continuation without a first fragment: 1002", send: func(rc *rawConn) error {
			return rc.writeFrame(true, opCont, []byte(`{"event":"echo"}`), true, 0)
		}, close: 1002},
		{name: "new message inside a fragmented one: 1002", send: func(rc *rawConn) error {
			if err := rc.writeFrame(false, opText, []byte(`{"event":`), true, 0); err != nil {
				return err
			}
			return rc.text(`{"event":"echo"}`)
		}, close: 1002},
		{name: "fragmented ping: 1002", send: func(rc *rawConn) error {
			return rc.writeFrame(false, opPing, []byte("x"), true, 0)
		}, close: 1002},
		{name: "ping longer than 125 bytes: 1002", send: func(rc *rawConn) error {
			return rc.writeFrame(true, opPing, make([]byte, 126), true, 0)
		}, close: 1002},
		{name: "unmasked client frame: 1002", send: func(rc *rawConn) error {
			return rc.writeFrame(true, opText, []byte(`{"event":"echo"}`), false, 0)
		}, close: 1002},
		{name: "RSV bits without an extension: 1002", send: func(rc *rawConn) error {
			return rc.writeFrame(true, opText, []byte(`{"event":"echo"}`), true, 4)
		}, close: 1002},
		{name: "unknown opcode: 1002", send: func(rc *rawConn) error {
			return rc.writeFrame(true, 0x3, []byte(`{"event":"echo"}`), true, 0)
		}, close: 1002},
		{name: "frame of exactly the maximum", send: textRow(frameOf(hostileMaxPayload, 50)),
			check: ackIs(`"` + strings.Repeat("x", hostileMaxPayload-len(`{"event":"echo","id":50,"data":""}`)) + `"`)},
		{name: "frame one byte over the maximum: 1009", send: textRow(frameOf(hostileMaxPayload+1, 51)), close: realtime.CloseTooBig},
		{name: "fragments adding up to one byte over the maximum: 1009",
			send: fragments(frameOf(hostileMaxPayload+1, 52), 4, nil), close: realtime.CloseTooBig},
		{name: "frame header announcing 2^62 bytes: 1009", send: func(rc *rawConn) error {
			head := []byte{0x81, 0x80 | 127, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
			_, err := rc.nc.Write(head)
			return err
		}, close: realtime.CloseTooBig},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			ns := row.ns
			if ns == "" {
				ns = "/"
			}
			if row.connectClose != 0 {
				checkRefusedConnect(t, srv, ns, row.header, row.connectClose)
				stillServes(t, srv)
				return
			}
			rc := dialRawConn(t, srv.URL(ns), row.header)
			if err := row.send(rc); err != nil {
				t.Fatalf("send: %v", err)
			}
			if row.close != 0 {
				cf := rc.waitClose(5 * time.Second)
				if cf.code != row.close {
					t.Fatalf("closed with %v, want %d", cf, row.close)
				}
				t.Logf("%v", cf)
				if !closedWithin(rc.nc, 5*time.Second) {
					t.Fatal("the connection is still open after the close frame")
				}
				stillServes(t, srv)
				return
			}
			got := rc.syncAck(1 << 40)
			var errs []rawEnvelope
			for _, env := range got {
				if env.Event == realtime.EventError {
					errs = append(errs, env)
				} else if env.Event != "" {
					t.Fatalf("unexpected event %s", env.Raw)
				}
			}
			if row.code == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
			} else {
				if len(errs) != 1 {
					t.Fatalf("%d %s events, want exactly one: %v", len(errs), realtime.EventError, got)
				}
				e := errs[0].errorData(t)
				if e.Code != row.code || e.Event != row.event || e.Message == "" || e.RequestID == "" {
					t.Fatalf("error %s, want code %s, event %q, a message and a request id", errs[0].Raw, row.code, row.event)
				}
				checkNoInternals(t, errs[0].Raw)
				if row.code == realtime.CodeRateLimit {
					if d, _ := e.Details.(map[string]any); d == nil || d["retryAfterMs"] == nil {
						t.Fatalf("RATE_LIMIT without retryAfterMs: %s", errs[0].Raw)
					}
				}
			}
			if row.ack != 0 {
				found := false
				for _, env := range got {
					if env.Ack == row.ack && env.Error != nil {
						found = true
						if env.Error.Code != row.code {
							t.Fatalf("ack %s, want error %s", env.Raw, row.code)
						}
					}
				}
				if !found {
					t.Fatalf("no error ack %d among %v", row.ack, got)
				}
			}
			if row.check != nil {
				row.check(t, got)
			}
			// And once more: the socket still serves.
			rc.syncAck(1<<40 + 1)
		})
	}
}

// checkRefusedConnect dials ns and expects one __loly:error, then the close
// code, and nothing else.
func checkRefusedConnect(t *testing.T, srv *realtimetest.Server, ns string, header http.Header, code uint16) {
	t.Helper()
	cl, err := realtimetest.Dial(testkit.Context(t), srv.URL(ns), &realtimetest.Options{Header: header, SkipConnected: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got, err := cl.WaitClosed(testkit.Context(t))
	if err != nil || got != code {
		t.Fatalf("closed with %d (%v), want %d", got, err, code)
	}
	evs := cl.Events()
	if len(evs) != 1 || evs[0].Event != realtime.EventError {
		t.Fatalf("want one %s and nothing else, got %s", realtime.EventError, raws(evs))
	}
	checkNoInternals(t, string(evs[0].Raw))
}

// secretMarkers are strings the hostile server's handlers and hooks put in
// their errors and panics: none may reach a client.
var secretMarkers = []string{"hunter2", "10.0.0.7", "pq:", "password", "lookup failed", "no session", "goroutine", ".go:", "panic"}

func checkNoInternals(t *testing.T, raw string) {
	t.Helper()
	for _, s := range secretMarkers {
		if strings.Contains(raw, s) {
			t.Fatalf("a client got %q: %s", s, raw)
		}
	}
}

// Each malformed envelope gets exactly one __loly:error carrying its code,
// event and details (on its ack too when it has an id), and the socket goes
// on serving.
func TestBadInput(t *testing.T) {
	srv := realtimetest.NewServer(t, protocolMux(realtime.Config{}))
	long := strings.Repeat("e", realtime.MaxEventNameBytes+1)
	tests := []struct {
		name    string
		frame   string
		binary  bool
		code    string
		event   string
		details map[string]any
		// ack is the id whose ack must carry the error too (0: none).
		ack int64
		// noAck is an id that must not be acked.
		noAck int64
	}{
		{name: "malformed JSON", frame: `{"event":"echo",`, code: realtime.CodeBadMessage},
		{name: "not an object", frame: `["echo"]`, code: realtime.CodeBadMessage},
		{name: "missing event", frame: `{"data":1}`, code: realtime.CodeBadMessage},
		{name: "null event", frame: `{"event":null,"data":1}`, code: realtime.CodeBadMessage},
		{name: "empty event", frame: `{"event":""}`, code: realtime.CodeBadMessage},
		{name: "event not a string, acked", frame: `{"event":5,"id":900}`, code: realtime.CodeBadMessage, ack: 900},
		{name: "typed data of the wrong type", frame: `{"event":"typed","data":{"n":"x"},"id":901}`,
			code: realtime.CodeBadPayload, event: "typed", details: map[string]any{"n": "must be an integer"}, ack: 901},
		{name: "bound data of the wrong type", frame: `{"event":"bind","data":{"s":5},"id":902}`,
			code: realtime.CodeBadPayload, event: "bind", details: map[string]any{"s": "must be a string"}, ack: 902},
		{name: "unknown event", frame: `{"event":"nope"}`, code: realtime.CodeUnknownEvent, event: "nope"},
		{name: "unknown event, acked", frame: `{"event":"nope","id":903}`, code: realtime.CodeUnknownEvent, event: "nope", ack: 903},
		{name: "reserved prefix", frame: `{"event":"__loly:x"}`, code: realtime.CodeBadMessage, event: "__loly:x"},
		{name: "lifecycle name", frame: `{"event":"$connect"}`, code: realtime.CodeBadMessage, event: "$connect"},
		{name: "lifecycle name, acked", frame: `{"event":"$disconnect","id":904}`, code: realtime.CodeBadMessage, event: "$disconnect", ack: 904},
		{name: "binary frame", frame: `{"event":"echo"}`, binary: true, code: realtime.CodeBadMessage},
		{name: "invalid UTF-8", frame: "{\"event\":\"echo\",\"data\":\"\xff\xfe\"}", code: realtime.CodeBadMessage},
		{name: "ack id 0", frame: `{"event":"echo","id":0}`, code: realtime.CodeBadMessage, event: "echo"},
		{name: "ack id -1", frame: `{"event":"echo","id":-1}`, code: realtime.CodeBadMessage, event: "echo"},
		{name: "ack id 1.5", frame: `{"event":"echo","id":1.5}`, code: realtime.CodeBadMessage, event: "echo"},
		{name: "ack id string", frame: `{"event":"echo","id":"7"}`, code: realtime.CodeBadMessage, event: "echo", noAck: 7},
		{name: "event name of 129 bytes", frame: `{"event":"` + long + `"}`, code: realtime.CodeBadMessage},
		{name: "event name of 128 bytes is only unknown", frame: `{"event":"` + long[1:] + `"}`,
			code: realtime.CodeUnknownEvent, event: long[1:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := dial(t, srv, "/")
			var err error
			if tt.binary {
				err = cl.SendBinary([]byte(tt.frame))
			} else {
				err = cl.SendRaw([]byte(tt.frame))
			}
			if err != nil {
				t.Fatal(err)
			}
			// The same socket still serves a valid request, and once its
			// ack is back everything caused by the bad frame has arrived.
			syncEcho(t, cl)
			evs := cl.Events()
			if len(evs) != 1 || evs[0].Event != realtime.EventError {
				t.Fatalf("want exactly one %s, got %d envelopes: %s", realtime.EventError, len(evs), raws(evs))
			}
			e, err := evs[0].ErrorData()
			if err != nil {
				t.Fatal(err)
			}
			checkError(t, e, tt.code, tt.event, tt.details)
			if tt.ack > 0 {
				m, err := cl.WaitAck(testkit.Context(t), tt.ack)
				if err != nil {
					t.Fatalf("error ack: %v", err)
				}
				if m.Error == nil {
					t.Fatalf("ack %d carries no error: %s", tt.ack, m.Raw)
				}
				checkError(t, m.Error, tt.code, tt.event, tt.details)
			}
			if tt.noAck > 0 {
				done, cancel := context.WithCancel(context.Background())
				cancel()
				if m, err := cl.WaitAck(done, tt.noAck); err == nil {
					t.Fatalf("id %d was acked: %s", tt.noAck, m.Raw)
				}
			}
		})
	}
}

func checkError(t *testing.T, e *realtime.Error, code, event string, details map[string]any) {
	t.Helper()
	if e.Code != code || e.Event != event || e.Message == "" {
		t.Errorf("error = {code %q, event %q, message %q}, want {code %q, event %q, some message}", e.Code, e.Event, e.Message, code, event)
	}
	if details != nil && !reflect.DeepEqual(e.Details, details) {
		t.Errorf("details = %#v, want %#v", e.Details, details)
	}
}

// A frame of exactly MaxPayloadBytes is served; one byte more closes the
// socket with 1009 and is never handled.
func TestOversizedFrameCloses1009(t *testing.T) {
	const limit = 1024
	srv := realtimetest.NewServer(t, protocolMux(realtime.Config{MaxPayloadBytes: limit}))
	cl := dial(t, srv, "/")
	frameOf := func(size int, id int64) []byte {
		head := `{"event":"echo","id":` + strconv.FormatInt(id, 10) + `,"data":"`
		pad := size - len(head) - len(`"}`)
		return []byte(head + strings.Repeat("x", pad) + `"}`)
	}
	at := frameOf(limit, 1)
	if len(at) != limit {
		t.Fatalf("frame is %d bytes", len(at))
	}
	if err := cl.SendRaw(at); err != nil {
		t.Fatal(err)
	}
	m, err := cl.WaitAck(testkit.Context(t), 1)
	if err != nil || m.Error != nil || len(m.Data) != limit-len(`{"event":"echo","id":1,"data":}`) {
		t.Fatalf("a frame of exactly MaxPayloadBytes: ack %s, %v", m.Raw, err)
	}
	if err := cl.SendRaw(frameOf(limit+1, 2)); err != nil {
		t.Fatal(err)
	}
	code, err := cl.WaitClosed(testkit.Context(t))
	if err != nil || code != realtime.CloseTooBig {
		t.Fatalf("close code %d (%v), want %d", code, err, realtime.CloseTooBig)
	}
	if _, err := cl.WaitAck(context.Background(), 2); err == nil {
		t.Fatal("the oversized frame was handled")
	}
}
