package socketio

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/lolyjs/realtime/internal/wire"
)

// FuzzSocketIOPacket feeds the Socket.IO packet parser, the event argument
// splitter and the attachment placer with arbitrary bytes: none may panic,
// and what they accept must be well formed.
func FuzzSocketIOPacket(f *testing.F) {
	for _, seed := range []string{
		`0`, `0/chat,`, `0/chat,{"token":"t-u1"}`, `1/chat,`, `2["hello"]`, `2["hello",{"a":1}]`,
		`2/chat,0["join",{"room":"r1"}]`, `2/chat,17["x",1,2,3]`, `3/chat,5[{"answer":42}]`, `3/chat,5[]`,
		`51-["file",{"_placeholder":true,"num":0}]`, `52-/chat,3["f",{"_placeholder":true,"num":1}]`,
		`61-/chat,0[{"_placeholder":true,"num":0}]`, `5999-[]`, `5-1-[]`, `5x-[]`, `2/chat`, `2/chat?x=1,["a"]`,
		`2[`, `2[1]`, `2[""]`, `2["__loly:error"]`, `2["$connect"]`, `2` + string(make([]byte, 300)),
		`4/chat,{"message":"nope"}`, `7`, ``, `2["a",{"_placeholder":true,"num":99}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		if p.Type < typeConnect || p.Type > typeBinaryAck || p.NS == "" || p.NS[0] != '/' || p.Attachments > maxAttachments || p.ID < -1 {
			t.Fatalf("Parse(%q) accepted %+v", b, p)
		}
		if p.Type == typeEvent {
			env, problem := EventArgs(p)
			if problem == "" && (wire.CheckName(env.Event) != wire.NameOK || env.ID < 0) {
				t.Fatalf("EventArgs(%q) accepted %+v", p.Data, env)
			}
			if problem == "" && env.Data != nil && !json.Valid(env.Data) {
				t.Fatalf("EventArgs(%q) gave invalid data %q", p.Data, env.Data)
			}
		}
		if p.Attachments > 0 {
			atts := make([][]byte, p.Attachments)
			for i := range atts {
				atts[i] = []byte{byte(i), 0, 255}
			}
			if out, err := insertAttachments(p.Data, atts); err == nil && !json.Valid(out) {
				t.Fatalf("insertAttachments(%q) gave invalid JSON %q", p.Data, out)
			}
		}
		_ = AckArgs(p.Data)
	})
}

// FuzzSocketIOEventRoundTrip checks that what the server encodes, the
// parser reads back: the namespace, the ack id, the event and the data.
func FuzzSocketIOEventRoundTrip(f *testing.F) {
	f.Add("/chat", int64(3), "chat:send", []byte(`{"text":"hi"}`))
	f.Add("/", int64(-1), "x", []byte(`[1,"two",null]`))
	f.Add("/a", int64(0), "é\n\"", []byte(`"s"`))
	f.Fuzz(func(t *testing.T, ns string, id int64, event string, data []byte) {
		// Names that are not valid UTF-8 are sent with U+FFFD in place of the
		// bad bytes, as encoding/json does; the round trip is for valid ones.
		if !utf8.ValidString(event) || !utf8.ValidString(ns) {
			return
		}
		if ns == "" || ns[0] != '/' || bytes.ContainsAny([]byte(ns), ",?") || id < -1 || !json.Valid(data) ||
			wire.CheckName(event) != wire.NameOK || wire.HasBinary(data) {
			return
		}
		var compact bytes.Buffer
		if json.Compact(&compact, data) != nil || compact.String() == "null" {
			return
		}
		data = compact.Bytes()
		packet, _ := EncodeEvent(ns, id, event, data, false)
		p, err := Parse(packet)
		if err != nil {
			t.Fatalf("Parse(%q): %v", packet, err)
		}
		if p.NS != ns || p.ID != id || p.Type != typeEvent {
			t.Fatalf("round trip of %q: %+v", packet, p)
		}
		env, problem := EventArgs(p)
		if problem != "" {
			t.Fatalf("EventArgs(%q): %s", p.Data, problem)
		}
		var want, got any
		_ = json.Unmarshal(data, &want)
		_ = json.Unmarshal(env.Data, &got)
		if env.Event != event {
			t.Fatalf("event %q came back as %q", event, env.Event)
		}
		if jw, _ := json.Marshal(want); !bytes.Equal(jw, mustJSON(got)) {
			t.Fatalf("data %s came back as %s", data, env.Data)
		}
		// An array of several values, sent as arguments, comes back as them.
		var elems []json.RawMessage
		if json.Unmarshal(data, &elems) != nil || len(elems) < 2 {
			return
		}
		packet, _ = EncodeEvent(ns, id, event, data, true)
		if p, err = Parse(packet); err != nil {
			t.Fatalf("Parse(%q): %v", packet, err)
		}
		if env, problem = EventArgs(p); problem != "" || len(env.Args) != len(elems) {
			t.Fatalf("arguments of %q came back as %q (%s)", packet, env.Args, problem)
		}
		for i := range elems {
			if !bytes.Equal(elems[i], env.Args[i]) {
				t.Fatalf("argument %d: %s came back as %s", i, elems[i], env.Args[i])
			}
		}
	})
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
