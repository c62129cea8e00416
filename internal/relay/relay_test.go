package relay

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEmitRoundTrip(t *testing.T) {
	b := AppendEmit(nil, "i1", "s1", "said \"hi\"\n", []byte(`{"text":"a\nb"}`), false)
	m, ok := Parse(b, "i2")
	if !ok || m.Control != nil || m.Except != "s1" || m.Event != "said \"hi\"\n" || string(m.Data) != `{"text":"a\nb"}` {
		t.Fatalf("parsed %+v, %v from %q", m, ok, b)
	}
	m, ok = Parse(AppendEmit(nil, "i1", "", "e", nil, false), "i2")
	if !ok || m.Data != nil || m.Except != "" || m.Event != "e" {
		t.Fatalf("emit without data: %+v, %v", m, ok)
	}
	// Several arguments keep their mark.
	m, ok = Parse(AppendEmit(nil, "i1", "", "move", []byte(`[3,4]`), true), "i2")
	if !ok || !m.Spread || m.Event != "move" || string(m.Data) != `[3,4]` {
		t.Fatalf("emit of several arguments: %+v, %v", m, ok)
	}
}

func TestOwnMessagesAreSkipped(t *testing.T) {
	if _, ok := Parse(AppendEmit(nil, "i1", "", "e", nil, false), "i1"); ok {
		t.Fatal("an instance read its own emit")
	}
	b, _ := AppendControl(nil, "i1", "", &Control{Op: OpJoin, Room: "r"})
	if _, ok := Parse(b, "i1"); ok {
		t.Fatal("an instance read its own control operation")
	}
}

func TestControlRoundTrip(t *testing.T) {
	for _, c := range []Control{
		{Op: OpDisconnect, Code: 4000, Reason: "bye ✓"},
		{Op: OpDisconnect, Socket: "sock-1", Code: 1000},
		// A room name is any bytes: invalid UTF-8 and newlines included.
		{Op: OpJoin, Room: "r\xff\xfe\n!x"},
		{Op: OpLeave, Socket: "s", Room: "lobby"},
		{Op: OpEmit, Socket: "s", Event: "dm", Data: []byte(`{"a":[1,2]}`)},
		{Op: OpEmit, Socket: "s", Event: "ping"},
		{Op: OpEmit, Socket: "s", Event: "move", Data: []byte(`[3,4]`), Spread: true},
	} {
		b, err := AppendControl(nil, "i1", "ex", &c)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := Parse(b, "i2")
		if !ok || m.Control == nil || m.Except != "ex" {
			t.Fatalf("%+v: parsed %+v, %v from %q", c, m, ok, b)
		}
		got := *m.Control
		if got.Op != c.Op || got.Socket != c.Socket || got.Room != c.Room || got.Code != c.Code ||
			got.Reason != c.Reason || got.Event != c.Event || !bytes.Equal(got.Data, c.Data) || got.Spread != c.Spread {
			t.Fatalf("sent %+v, got %+v", c, got)
		}
	}
	if _, err := AppendControl(nil, "i1", "", &Control{Op: OpEmit, Event: "e", Data: []byte("{bad")}); err == nil {
		t.Fatal("invalid JSON data was accepted")
	}
}

// No emit can pass for a control operation: not with an event name that
// looks like one, nor with a skipped id that smuggles in fields.
func TestEmitsAreNeverControl(t *testing.T) {
	ctl, _ := AppendControl(nil, "x", "", &Control{Op: OpDisconnect, Code: 4000})
	forged := string(ctl[strings.IndexByte(string(ctl), '\n')+2:]) // "!disconnect\n{...}"
	for _, e := range []struct{ except, event string }{
		{"", "!disconnect"},
		{"", forged},
		{"s\n!disconnect", "e"},
		{"\n" + forged, "e"},
		{"s\n" + forged, "!join"},
	} {
		b := AppendEmit(nil, "i1", e.except, e.event, []byte(`{"code":4000}`), false)
		m, ok := Parse(b, "i2")
		if !ok || m.Control != nil || m.Event != e.event || string(m.Data) != `{"code":4000}` {
			t.Fatalf("emit %q except %q parsed as %+v, %v", e.event, e.except, m, ok)
		}
		if strings.Contains(e.except, "\n") && m.Except != noSocket {
			t.Fatalf("except %q came back as %q", e.except, m.Except)
		}
	}
}

func TestMalformedAndUnknownAreDropped(t *testing.T) {
	for _, p := range []string{
		"", "i1", "i1\n", "i1\ns", "i1\ns\n", "i1\ns\nnot-json\n", "i1\ns\n!reboot\n{}",
		"i1\ns\n!join\nnot-json", "i1\ns\n!\n{}", `i1` + "\ns\n" + `"e` + "\n",
	} {
		if m, ok := Parse([]byte(p), "i2"); ok {
			t.Fatalf("%q parsed as %+v", p, m)
		}
	}
}

// FuzzEmitNeverControl: whatever an application emits (event name, data,
// skipped id), the other instances read an emit with the same event and
// data, never a control operation.
func FuzzEmitNeverControl(f *testing.F) {
	f.Add("", "!disconnect", []byte(`{"code":4000}`), false)
	f.Add("a\n!join\n", `"x`, []byte("\n!leave\n{}"), true)
	f.Add("\n\n\n", "\n", []byte{}, false)
	f.Fuzz(func(t *testing.T, except, event string, data []byte, spread bool) {
		m, ok := Parse(AppendEmit(nil, "origin", except, event, data, spread), "self")
		if !ok {
			t.Fatalf("emit %q %q %q did not parse", except, event, data)
		}
		if m.Control != nil {
			t.Fatalf("emit %q except %q read as control %+v", event, except, m.Control)
		}
		if m.Spread != spread {
			t.Fatalf("spread %v came back as %v", spread, m.Spread)
		}
		if utf8.ValidString(event) && m.Event != event {
			t.Fatalf("event %q came back as %q", event, m.Event)
		}
		if !bytes.Equal(m.Data, data) && !(len(data) == 0 && m.Data == nil) {
			t.Fatalf("data %q came back as %q", data, m.Data)
		}
	})
}
