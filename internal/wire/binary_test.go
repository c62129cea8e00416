package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNativeBinary(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// The rest of the JSON stays byte for byte: key order, number text.
		{`{"z":1.50,"file":{"_lolybin":"AQID"},"a":[{"_lolybin":""}, 2e3]}`, `{"z":1.50,"file":"AQID","a":["", 2e3]}`},
		{` { "_lolybin" : "AQ==" } `, ` "AQ==" `},
		// A mark inside a string is text.
		{`{"s":"{\"_lolybin\":\"AQ==\"}","t":{"_lolybin":"AQ=="}}`, `{"s":"{\"_lolybin\":\"AQ==\"}","t":"AQ=="}`},
		// Not marks: another member, bad base64, not a string, escapes.
		{`{"_lolybin":"AQ==","x":1}`, `{"_lolybin":"AQ==","x":1}`},
		{`{"_lolybin":"!!"}`, `{"_lolybin":"!!"}`},
		{`{"_lolybin":1}`, `{"_lolybin":1}`},
		{`{"_lolybin":"AQ\u003d\u003d"}`, `{"_lolybin":"AQ\u003d\u003d"}`},
		{`{"_lolybin":{"_lolybin":"AQ=="}}`, `{"_lolybin":"AQ=="}`},
		{`[1,2]`, `[1,2]`},
	} {
		if got := string(NativeBinary([]byte(tc.in))); got != tc.want {
			t.Errorf("NativeBinary(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// A scan that tries every object costs linear time, however deep the
// nesting: a flat-object check stops at the first nested value.
func TestReplaceBinaryDeepNesting(t *testing.T) {
	const depth = 200000
	data := strings.Repeat(`{"a":`, depth) + `{"_lolybin":"AQ=="}` + strings.Repeat(`}`, depth)
	got := NativeBinary([]byte(data))
	want := strings.Repeat(`{"a":`, depth) + `"AQ=="` + strings.Repeat(`}`, depth)
	if string(got) != want {
		t.Fatal("the mark at the bottom was not replaced")
	}
}

// FuzzReplaceBinary checks that replacing marks never panics and keeps
// valid JSON valid, with each mark's bytes in place.
func FuzzReplaceBinary(f *testing.F) {
	for _, seed := range []string{
		`{"_lolybin":"AQID"}`, `[{"_lolybin":""},{"_lolybin":"/w=="}]`, `{"a":{"_lolybin":"AQ==","b":1}}`,
		`"{\"_lolybin\":\"AQ==\"}"`, `{"_lolybin":"AQ`, `{"_lolybin"`, `{"_lolybin":}`, `{`, `"`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		out := ReplaceBinary(data, func(dst, b64 []byte) []byte {
			n++
			return AppendBinary(dst, bytes.Repeat([]byte{1}, len(b64)%5))
		})
		if json.Valid(data) && !json.Valid(out) {
			t.Fatalf("ReplaceBinary(%s) gave invalid JSON %s", data, out)
		}
		if n > 0 && !HasBinary(data) {
			t.Fatalf("replaced %d marks in %s, which holds none", n, data)
		}
	})
}
