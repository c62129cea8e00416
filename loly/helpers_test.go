package loly_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/internal/testkit"
	"github.com/lolyjs/realtime/realtimetest"
)

// quiet returns a Config whose logger discards.
func quiet() realtime.Config {
	return realtime.Config{Logger: slog.New(slog.DiscardHandler)}
}

// serve starts a mux with cfg, the middlewares and the routes on loopback.
func serve(t *testing.T, cfg realtime.Config, mws realtime.Middlewares, routes ...realtime.Route) *realtimetest.Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	mux := realtime.New(cfg)
	if len(mws) > 0 {
		mux.Use(mws...)
	}
	for _, r := range routes {
		mux.Route(r)
	}
	return realtimetest.NewServer(t, mux)
}

// dial connects a native client to a namespace, with optional headers as
// "Name: value" strings.
func dial(t *testing.T, srv *realtimetest.Server, ns string, headers ...string) *realtimetest.Client {
	t.Helper()
	h := http.Header{}
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ": ")
		h.Add(k, v)
	}
	return realtimetest.MustDial(t, srv.URL(ns), &realtimetest.Options{Header: h})
}

// wantEvent waits for an event and decodes its data.
func wantEvent(t *testing.T, c *realtimetest.Client, event string) map[string]any {
	t.Helper()
	m, err := c.Wait(testkit.Context(t), event)
	if err != nil {
		t.Fatalf("waiting for %s: %v", event, err)
	}
	var v map[string]any
	if len(m.Data) > 0 && m.Data[0] == '{' {
		if err := json.Unmarshal(m.Data, &v); err != nil {
			t.Fatalf("%s data %s: %v", event, m.Data, err)
		}
	}
	return v
}

// wantEventData waits for an event and returns its raw data.
func wantEventData(t *testing.T, c *realtimetest.Client, event string) string {
	t.Helper()
	m, err := c.Wait(testkit.Context(t), event)
	if err != nil {
		t.Fatalf("waiting for %s: %v", event, err)
	}
	return string(m.Data)
}

// wantError waits for a __loly:error and returns it as the client got it.
func wantError(t *testing.T, c *realtimetest.Client) map[string]any {
	t.Helper()
	return wantEvent(t, c, realtime.EventError)
}

// barrier makes sure everything the server sent c before answering a ping
// event has arrived: events of one socket are handled in order. The route
// must have a "ping" event.
func barrier(t *testing.T, c *realtimetest.Client) {
	t.Helper()
	testkit.Request(t, c, "ping", nil)
}

// none fails if c got the event by the time a barrier returns.
func none(t *testing.T, c *realtimetest.Client, event string) {
	t.Helper()
	barrier(t, c)
	if n := c.Count(event); n != 0 {
		t.Fatalf("got %d %s events; want none", n, event)
	}
}

func nop(*realtime.Ctx) error { return nil }

// pingEvent is the barrier event routes of these tests carry.
var pingEvent = realtime.Event{Handler: nop}

// eioPoll is a minimal Engine.IO v4 long-polling client: the Socket.IO
// side of a row that only a Socket.IO client can show.
type eioPoll struct {
	t   *testing.T
	url string
	sid string
	hdr http.Header
	got []string
}

func openPoll(t *testing.T, srv *realtimetest.Server, hdr http.Header) *eioPoll {
	t.Helper()
	p := &eioPoll{t: t, url: srv.Server.URL + srv.Mux.Config().Path + "/?EIO=4&transport=polling", hdr: hdr}
	body := p.do(http.MethodGet, "")
	var open struct {
		SID string `json:"sid"`
	}
	if !strings.HasPrefix(body, "0") || json.Unmarshal([]byte(body[1:]), &open) != nil || open.SID == "" {
		t.Fatalf("Engine.IO open packet: %q", body)
	}
	p.sid = open.SID
	p.url += "&sid=" + open.SID
	return p
}

func (p *eioPoll) do(method, body string) string {
	p.t.Helper()
	req, err := http.NewRequestWithContext(testkit.Context(p.t), method, p.url, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	for k, v := range p.hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		p.t.Fatalf("%s %s: %d %s", method, p.url, resp.StatusCode, b)
	}
	return string(b)
}

// send posts Socket.IO packets.
func (p *eioPoll) send(packets ...string) {
	p.t.Helper()
	if body := p.do(http.MethodPost, strings.Join(packets, "\x1e")); body != "ok" {
		p.t.Fatalf("post: %q", body)
	}
}

// next returns the next packet the server sent that starts with prefix,
// answering pings.
func (p *eioPoll) next(prefix string) string {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, pkt := range p.got {
			if strings.HasPrefix(pkt, prefix) {
				p.got = append(p.got[:i:i], p.got[i+1:]...)
				return pkt
			}
		}
		for _, pkt := range strings.Split(p.do(http.MethodGet, ""), "\x1e") {
			if pkt == "2" {
				p.send("3")
				continue
			}
			p.got = append(p.got, pkt)
		}
	}
	p.t.Fatalf("no packet starting with %q; got %q", prefix, p.got)
	return ""
}

func (p *eioPoll) close() { p.send("1") }
