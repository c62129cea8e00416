package wire

import (
	"encoding/json"
	"testing"
)

var benchLine = []byte(`{"event":"chat:send","data":{"room":"lobby","text":"hello there"},"id":7}`)

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchLine)))
	for b.Loop() {
		env, problem := Decode(benchLine)
		if problem != "" || env.ID != 7 || string(env.Name) != "chat:send" {
			b.Fatalf("decode: %+v %q", env, problem)
		}
	}
}

type benchMessage struct {
	From string `json:"from"`
	Room string `json:"room"`
	Text string `json:"text"`
}

// BenchmarkEncodeEvent is the work of one emit before delivery: the data
// encoded once, wrapped in its envelope.
func BenchmarkEncodeEvent(b *testing.B) {
	msg := benchMessage{From: "u1", Room: "lobby", Text: "hello there"}
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		payload, err := json.Marshal(msg)
		if err != nil {
			b.Fatal(err)
		}
		out = AppendEvent(make([]byte, 0, len(payload)+40), "chat:message", payload)
	}
	if string(out) != `{"event":"chat:message","data":{"from":"u1","room":"lobby","text":"hello there"}}` {
		b.Fatalf("encoded %s", out)
	}
}
