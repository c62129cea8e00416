package history_test

import (
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/lolyjs/realtime/history"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPositionString(t *testing.T) {
	p := history.Position{Epoch: "k3x9", Seq: 42}
	got, err := history.ParsePosition(p.String())
	if err != nil || got != p || p.String() != "k3x9-42" {
		t.Fatalf("%q parses as %v, %v", p.String(), got, err)
	}
	for _, bad := range []string{"", "-1", "e-", "e-x", "e--1", "e-18446744073709551616", string(make([]byte, 100)) + "-1"} {
		if _, err := history.ParsePosition(bad); !errors.Is(err, history.ErrBadPosition) {
			t.Errorf("ParsePosition(%q): %v, want ErrBadPosition", bad, err)
		}
	}
}

func TestFrame(t *testing.T) {
	f := history.Frame(history.Position{Epoch: "e1", Seq: 7}, 3, []byte("a\nb"))
	pos, prev, payload, ok := history.ParseFrame(f)
	if !ok || pos.Epoch != "e1" || pos.Seq != 7 || prev != 3 || string(payload) != "a\nb" {
		t.Fatalf("frame %q parses as %v %d %q %v", f, pos, prev, payload, ok)
	}
	for _, notFrame := range []string{"", "\x00", "instance\nx\n\"e\"\n", "\x00Hno newline", "\x00Ha b\n"} {
		if _, _, _, ok := history.ParseFrame([]byte(notFrame)); ok {
			t.Errorf("%q parsed as a frame", notFrame)
		}
	}
}
