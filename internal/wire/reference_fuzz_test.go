package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"unicode/utf8"
)

// referenceEnvelope decodes an envelope the slow, obvious way, with
// encoding/json, for FuzzEnvelopeAgainstReference.
func referenceEnvelope(b []byte) (event string, data []byte, id int64, ok bool) {
	if !utf8.Valid(b) {
		return "", nil, 0, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return "", nil, 0, false
	}
	if raw, has := m["id"]; has && string(raw) != "null" {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n <= 0 {
			return "", nil, 0, false
		}
		id = n
	}
	if json.Unmarshal(m["event"], &event) != nil || event == "" || CheckName(event) != NameOK {
		return "", nil, 0, false
	}
	if raw := m["data"]; len(raw) > 0 && string(raw) != "null" {
		data = raw
	}
	return event, data, id, true
}

// FuzzEnvelopeAgainstReference checks the allocation-free envelope decoder
// against encoding/json: the same envelopes are accepted, with the same
// event, id and data.
func FuzzEnvelopeAgainstReference(f *testing.F) {
	for _, s := range []string{
		`{"event":"a","data":{"x":[1,{"y":"}"}]},"id":3}`, `{"event":"a","event":"b"}`, `{"data":1,"event":"e"}`,
		`{"ev\u0065nt":"esc"}`, `{"event":"\u0061b"}`, `{"event":"a","id":null,"data":null}`, ` { "event" : "s" , "id" : 7 } `,
		`{"event":"a","id":"7"}`, `{"event":"a","x":{"event":"no"}}`, `{"event":"a","data":"\"}"}`, `[]`, `"x"`, `{}`,
		`{"event":5}`, `{"event":"$x"}`, `{"event":"__loly:x"}`, `{"Event":"a"}`, `{"event":"a","data":[[[[]]]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, problem := Decode(b)
		event, data, id, ok := referenceEnvelope(b)
		if ok != (problem == "") {
			t.Fatalf("Decode(%q) refusal %q, reference ok=%v", b, problem, ok)
		}
		if !ok {
			return
		}
		if env.EventName() != event || env.ID != id {
			t.Fatalf("Decode(%q) = event %q id %d, reference %q %d", b, env.EventName(), env.ID, event, id)
		}
		if !bytes.Equal(env.Data, data) {
			t.Fatalf("Decode(%q) data %q, reference %q", b, env.Data, data)
		}
	})
}
