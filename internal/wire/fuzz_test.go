package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets of the codec. `go test` replays the seeds below and the
// corpora under testdata/fuzz; scripts/fuzz.sh runs each one with -fuzz
// for a set time. A crash the fuzzer finds is written to
// testdata/fuzz/<Target>/ and so becomes a regression test of plain
// `go test`.

// envelopeSeeds are the inputs every fuzz run starts from: valid envelopes,
// each row of the protocol's BAD_MESSAGE table, and hostile shapes.
var envelopeSeeds = []string{
	`{"event":"chat:send","data":{"text":"hi"},"id":7}`,
	`{"event":"echo"}`,
	`{"event":"echo","data":null,"id":null}`,
	`{"event":"echo","data":[1,2,3],"id":9223372036854775807}`,
	`{"event":"echo","id":9223372036854775808}`,
	`{"event":"echo","id":0}`,
	`{"event":"echo","id":-1}`,
	`{"event":"echo","id":1.5}`,
	`{"event":"echo","id":"7"}`,
	`{"event":"echo","id":1e2}`,
	`{"event":5,"id":3}`,
	`{"event":null}`,
	`{"event":""}`,
	`{"data":1}`,
	`["echo"]`,
	`"echo"`,
	`null`,
	``,
	`{`,
	`{"event":"__loly:error"}`,
	`{"event":"$connect","id":2}`,
	`{"event":"a","event":"b"}`,
	`{"EVENT":"echo","ID":4}`,
	`{"event":"e\u0000v"}`,
	"{\"event\":\"\xff\xfe\"}",
	`{"event":"\ud800"}`,
	`{"event":"echo","data":1e999999}`,
	`{"event":"echo","data":123456789012345678901234567890}`,
	`{"event":"echo","data":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
	`{"event":"` + strings.Repeat("x", MaxEventNameBytes) + `"}`,
	`{"event":"` + strings.Repeat("x", MaxEventNameBytes+1) + `","id":5}`,
	` {"event":"echo"} `,
	`{"event":"echo"} {"event":"again"}`,
}

// FuzzDecodeEnvelope checks that no input makes Decode panic, and
// that what it accepts and refuses follows the protocol: an accepted envelope
// has a valid event name, a positive id or none, and data that is valid JSON;
// a refusal has a short, valid message that carries no internal strings.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(nil), b...)
		env, problem := Decode(b)
		if !bytes.Equal(in, b) {
			t.Fatal("Decode modified its input")
		}
		if len(env.EventName()) > MaxEventNameBytes {
			t.Fatalf("event name of %d bytes returned", len(env.EventName()))
		}
		if env.ID < 0 {
			t.Fatalf("negative ack id %d returned", env.ID)
		}
		if problem != "" {
			checkClientMessage(t, problem)
			return
		}
		if !utf8.Valid(b) || !json.Valid(b) {
			t.Fatalf("accepted input that is not valid UTF-8 JSON: %q", b)
		}
		if CheckName(env.EventName()) != NameOK || !utf8.ValidString(env.EventName()) {
			t.Fatalf("accepted event name %q", env.EventName())
		}
		if env.Data != nil && (!json.Valid(env.Data) || string(env.Data) == "null") {
			t.Fatalf("accepted data %q", env.Data)
		}
		// What was accepted decodes the same once re-encoded the way a
		// well-behaved client would send it.
		re := map[string]any{"event": env.EventName()}
		if env.Data != nil {
			re["data"] = env.Data
		}
		if env.ID > 0 {
			re["id"] = env.ID
		}
		rb, merr := json.Marshal(re)
		if merr != nil {
			t.Fatalf("re-encode: %v", merr)
		}
		env2, problem2 := Decode(rb)
		if problem2 != "" || env2.EventName() != env.EventName() || env2.ID != env.ID || !jsonEqual(env2.Data, env.Data) {
			t.Fatalf("round trip of %q: %+v, %q; first decode %+v", b, env2, problem2, env)
		}
	})
}

// checkClientMessage checks a refusal's message, meant for a client: not
// empty, bounded, valid, and nothing from inside the server.
func checkClientMessage(t *testing.T, msg string) {
	t.Helper()
	if msg == "" || len(msg) > 1024 || !utf8.ValidString(msg) {
		t.Fatalf("refusal message of %d bytes (valid UTF-8: %v)", len(msg), utf8.ValidString(msg))
	}
	for _, leak := range internalMarkers {
		if strings.Contains(msg, leak) {
			t.Fatalf("refusal message %q carries %q", msg, leak)
		}
	}
}

// internalMarkers are strings that would show an error text from inside the
// server (a Go library, a stack trace) reaching a client.
var internalMarkers = []string{"json:", "goroutine ", ".go:", "runtime.", "panic", "redis", "dial tcp", "0x"}

func jsonEqual(a, b []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	dx := json.NewDecoder(bytes.NewReader(a))
	dx.UseNumber()
	dy := json.NewDecoder(bytes.NewReader(b))
	dy.UseNumber()
	if dx.Decode(&x) != nil || dy.Decode(&y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// FuzzSplitFrame checks Split against the obvious reference: split on
// '\n', drop blank lines.
func FuzzSplitFrame(f *testing.F) {
	for _, s := range []string{
		"", "\n", "\n\n\n", " \t\r\n", "a", "a\n", "\na", "a\nb", "a\n\nb\n",
		"{\"event\":\"x\"}\n{\"event\":\"y\"}", "a\r\nb\r\n", "\x00\n\x00", "\xff\n\xfe",
		strings.Repeat("{}\n", 100),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var want [][]byte
		for _, line := range bytes.Split(frame, []byte{'\n'}) {
			if len(bytes.TrimSpace(line)) > 0 {
				want = append(want, line)
			}
		}
		var got [][]byte
		Split(frame, func(line []byte) {
			if bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("line %q holds a newline", line)
			}
			got = append(got, line)
		})
		if len(got) != len(want) {
			t.Fatalf("%q: %d lines, want %d", frame, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%q: line %d is %q, want %q", frame, i, got[i], want[i])
			}
		}
	})
}

// FuzzValidAgainstStdlib checks Valid against encoding/json's Valid.
func FuzzValidAgainstStdlib(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `{"a":[1,2,{"b":null}],"c":"\u00e9\n"}`, ` 1 `, `-0.5e+10`, `01`, `1.`, `.5`, `1e`, `"\x"`,
		`"\u12"`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`, `[}`, `{]`, `tru`, `nulll`, `"a" "b"`, "\"\x01\"",
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`{"a":{"b":{"c":[{"d":[true,false,null]}]}}}`, ``, ` `, `"`, `-`, `[1 2]`, `{"a":1 "b":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

// Valid and Decode refuse nesting past encoding/json's limit, 10,000
// levels, the envelope's own object included, as encoding/json does.
func TestValidNestingLimit(t *testing.T) {
	nested := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, n := range []int{9999, 10000, 10001} {
		b := []byte(nested(n))
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Errorf("Valid of depth %d = %v, encoding/json says %v", n, got, want)
		}
		env := []byte(`{"event":"e","data":` + nested(n-1) + `}`)
		_, problem := Decode(env)
		if got, want := problem == "", json.Valid(env); got != want {
			t.Errorf("Decode of an envelope of depth %d: refusal %q, encoding/json says valid=%v", n, problem, want)
		}
	}
}

// FuzzCompactMatchesMarshal checks that data Compact accepts is exactly
// what encoding/json makes of it as a json.RawMessage.
func FuzzCompactMatchesMarshal(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a": 1}`, `["<"]`, `"\u2028"`, "\"\u2028\"", `{"a":"b\"c"}`, `[1,2,{"x":null}]`,
		"\"a\tb\"", `"&"`, `"\\"`, `  1`, `"é"`, `1e5`, `{"k":[true,false]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !Valid(b) || !Compact(b) {
			return
		}
		out, err := json.Marshal(json.RawMessage(b))
		if err != nil || string(out) != string(b) {
			t.Fatalf("Compact(%q) but encoding/json makes %q (%v)", b, out, err)
		}
	})
}
