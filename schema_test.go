package realtime_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/middleware"
	"github.com/lolyjs/realtime/realtimetest"
)

// Error objects carry the protocol's words, never a Go library's: an
// unknown field refused by DisallowUnknownFields names the field, not
// encoding/json. (It sent `invalid payload: json: unknown field "admin"`.)
func TestSchemaErrorsCarryNoLibraryText(t *testing.T) {
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.Validate)
	mux.Handle("strict", realtime.Event{Schema: realtime.JSON[point](realtime.DisallowUnknownFields()),
		Handler: func(c *realtime.Ctx) error { return nil }})
	mux.On("when", func(c *realtime.Ctx) error {
		var v struct {
			At time.Time `json:"at"`
		}
		return c.Bind(&v)
	})
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/")
	_, err := cl.Request(testkit.Context(t), "strict", map[string]any{"n": 1, "admin": true})
	var e *realtime.Error
	if !errorsAs(err, &e) || e.Code != realtime.CodeBadPayload || strings.Contains(e.Message, "json") {
		t.Fatalf("unknown field: %v", err)
	}
	if d, _ := e.Details.(map[string]any); d["admin"] == nil {
		t.Fatalf("unknown field: details %v, want the field named", e.Details)
	}
	long := strings.Repeat("k", 1000)
	_, err = cl.Request(testkit.Context(t), "strict", map[string]any{long: 1})
	if !errorsAs(err, &e) || strings.Contains(e.Message, long) || e.Details != nil {
		t.Fatalf("a 1000-byte unknown field is echoed back: %v", err)
	}
	_, err = cl.Request(testkit.Context(t), "when", map[string]any{"at": "yesterday"})
	if !errorsAs(err, &e) || e.Code != realtime.CodeBadPayload || strings.Contains(e.Message, "parsing time") || strings.Contains(e.Message, "2006") {
		t.Fatalf("bad time: %v", err)
	}
}

// A payload that does not decode is refused with the field named as
// encoding/json names it: the path of struct fields, without slice indexes
// or map keys; a time that does not parse names nothing; data of the wrong
// kind says what it must be. The same through Bind and a JSON schema.
func TestPayloadErrorDetails(t *testing.T) {
	type inner struct {
		N int `json:"n"`
	}
	type shapes struct {
		In   inner          `json:"in"`
		List []inner        `json:"list"`
		M    map[string]int `json:"m"`
		At   time.Time      `json:"at"`
	}
	mux := realtime.New(quiet(realtime.Config{}))
	mux.Use(middleware.Validate)
	mux.On("bind", func(c *realtime.Ctx) error {
		var v shapes
		return c.Bind(&v)
	})
	mux.Handle("schema", realtime.Event{Schema: realtime.JSON[shapes](realtime.DisallowUnknownFields()),
		Handler: func(c *realtime.Ctx) error { return nil }})
	srv := realtimetest.NewServer(t, mux)
	cl := dial(t, srv, "/")
	for _, tc := range []struct {
		data    string
		message string
		details map[string]any
	}{
		{`{"in":{"n":"x"}}`, "invalid payload", map[string]any{"in.n": "must be an integer"}},
		{`{"list":[{"n":1},{"n":"z"}]}`, "invalid payload", map[string]any{"list.n": "must be an integer"}},
		{`{"m":{"a":"b"}}`, "invalid payload", map[string]any{"m": "must be an integer"}},
		{`{"at":"yesterday"}`, "invalid payload", nil},
		{`[1,2]`, "data must be an object", nil},
		{`{"in":{"n":1.5}}`, "invalid payload", map[string]any{"in.n": "must be an integer"}},
	} {
		for _, event := range []string{"bind", "schema"} {
			_, err := cl.Request(testkit.Context(t), event, json.RawMessage(tc.data))
			var e *realtime.Error
			if !errorsAs(err, &e) || e.Code != realtime.CodeBadPayload || e.Message != tc.message {
				t.Fatalf("%s %s: %v, want %q", event, tc.data, err, tc.message)
			}
			if tc.details == nil && e.Details != nil || tc.details != nil && !reflect.DeepEqual(e.Details, tc.details) {
				t.Fatalf("%s %s: details %#v, want %#v", event, tc.data, e.Details, tc.details)
			}
		}
	}
}
