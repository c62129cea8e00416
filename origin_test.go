package realtime_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// The Origin rules: without AllowedOrigins, the server's own host (any
// scheme) and requests with no Origin are upgraded; with a list, the listed
// origins; "*" admits any. A refused Origin gets HTTP 403 and never reaches
// OnConnect.
func TestOrigin(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		origin  string // "same" is the server's own origin
		ok      bool
	}{
		{"default: same host", nil, "same", true},
		{"default: no Origin", nil, "", true},
		{"default: other host", nil, "http://evil.example", false},
		{"default: same host, other scheme is still the host", nil, "https://same", true},
		{"list: listed", []string{"https://app.example", "http://other.example"}, "https://app.example", true},
		{"list: listed with a trailing slash", []string{"https://app.example/"}, "https://app.example", true},
		{"list: not listed", []string{"https://app.example"}, "https://evil.example", false},
		{"list: own host is not implied", []string{"https://app.example"}, "same", false},
		{"list: no Origin", []string{"https://app.example"}, "", true},
		{"star", []string{"*"}, "http://anything.example", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var connects atomic.Int32
			mux := realtime.New(quiet(realtime.Config{AllowedOrigins: tt.allowed}))
			mux.OnConnect(func(c *realtime.Ctx) error { connects.Add(1); return nil })
			srv := realtimetest.NewServer(t, mux)
			host := strings.TrimPrefix(srv.Server.URL, "http://")
			h := http.Header{}
			switch {
			case tt.origin == "same":
				h.Set("Origin", "http://"+host)
			case strings.HasSuffix(tt.origin, "://same"):
				h.Set("Origin", strings.TrimSuffix(tt.origin, "same")+host)
			case tt.origin != "":
				h.Set("Origin", tt.origin)
			}
			cl, err := realtimetest.Dial(testkit.Context(t), srv.URL("/"), &realtimetest.Options{Header: h})
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				cl.Close()
				return
			}
			if err == nil {
				cl.Close()
				t.Fatal("a disallowed origin was upgraded")
			}
			if !strings.Contains(err.Error(), "403") {
				t.Fatalf("dial: %v, want HTTP 403", err)
			}
			if connects.Load() != 0 {
				t.Fatal("a refused origin reached OnConnect")
			}
		})
	}
}

// Cross-site WebSocket hijacking: the shapes of Origin a hostile page could
// make a browser send (or that look close to an allowed one) are refused
// with 403 before any upgrade. TestOrigin covers the rules; these are the
// near misses.
func TestOriginHijackAttempts(t *testing.T) {
	var connects atomic.Int32
	for _, tc := range []struct {
		name    string
		allowed []string
		origin  func(host string) string
	}{
		{"sandboxed page: null", nil, func(string) string { return "null" }},
		{"same host as a subdomain of evil", nil, func(h string) string { return "http://" + strings.Split(h, ":")[0] + ".evil.example" }},
		{"same host, other port", nil, func(h string) string { return "http://" + strings.Split(h, ":")[0] + ":1" }},
		{"userinfo trick", nil, func(h string) string { return "http://" + h + "@evil.example" }},
		{"garbage", nil, func(string) string { return "::not a url::" }},
		{"allowed origin as a prefix", []string{"https://app.example"}, func(string) string { return "https://app.example.evil.example" }},
		{"allowed origin, other scheme", []string{"https://app.example"}, func(string) string { return "http://app.example" }},
		{"allowed origin, other port", []string{"https://app.example"}, func(string) string { return "https://app.example:8443" }},
		{"allowed origin with a path", []string{"https://app.example"}, func(string) string { return "https://app.example/x" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := realtime.New(quiet(realtime.Config{AllowedOrigins: tc.allowed}))
			mux.OnConnect(func(c *realtime.Ctx) error { connects.Add(1); return nil })
			srv := realtimetest.NewServer(t, mux)
			host := strings.TrimPrefix(srv.Server.URL, "http://")
			_, err := realtimetest.DialRaw(testkit.Context(t), srv.URL("/"), http.Header{"Origin": {tc.origin(host)}})
			if err == nil || !strings.Contains(err.Error(), "403") {
				t.Fatalf("Origin %q: %v, want HTTP 403", tc.origin(host), err)
			}
		})
	}
	if connects.Load() != 0 {
		t.Fatalf("%d refused origins reached OnConnect", connects.Load())
	}
}
