package socketio

import (
	"fmt"
	"testing"
)

func TestParseChecksThePayloadShape(t *testing.T) {
	for pkt, ok := range map[string]bool{
		`0`: true, `0/a,`: true, `0{"token":1}`: true, `0/a,{}`: true, `0[]`: false, `0"x"`: false, `0null`: false,
		`1`: true, `1/a,`: true, `1{}`: false,
		`2["e"]`: true, `2[1]`: true, `2[-1.5,2]`: true, `27["e",1,2]`: true, `2`: false, `2[]`: false, `2{}`: false,
		`2[{}]`: false, `2[null]`: false, `2abc["e"]`: false, `2["e"`: false,
		`3[]`: true, `37[1,2]`: true, `3{}`: false, `3`: false,
		`51-["e",{"_placeholder":true,"num":0}]`: true, `510-["e"]`: true, `511-["e"]`: false, `5-["e"]`: false,
		`5a-["e"]`: false, `61-2[{"_placeholder":true,"num":0}]`: true,
		`4{"message":"x"}`: true, `4"x"`: true, `7`: false, ``: false,
		`299999999999999999999["e"]`: false,
	} {
		if _, err := Parse([]byte(pkt)); (err == nil) != ok {
			t.Errorf("Parse(%q): %v, want ok %v", pkt, err, ok)
		}
	}
}

func TestInsertAttachments(t *testing.T) {
	atts := [][]byte{{1}, {2}}
	got, err := insertAttachments([]byte(`["x",{"z":2,"f":{"num":1,"_placeholder":true}},"{\"_placeholder\":true,\"num\":0}",{"_placeholder":false,"num":0}]`), atts)
	want := `["x",{"z":2,"f":{"_lolybin":"Ag=="}},"{\"_placeholder\":true,\"num\":0}",{"_placeholder":false,"num":0}]`
	if err != nil || string(got) != want {
		t.Fatalf("got %s, %v; want %s", got, err, want)
	}
	for _, bad := range []string{`[{"_placeholder":true,"num":2}]`, `[{"_placeholder":true,"num":-1}]`,
		`[{"_placeholder":true,"num":0.5}]`, `[{"_placeholder":true}]`} {
		if _, err := insertAttachments([]byte(bad), atts); err == nil {
			t.Errorf("insertAttachments(%s) accepted it", bad)
		}
	}
}

func TestEncodeSeveralArguments(t *testing.T) {
	for _, tc := range []struct {
		pkt  func() ([]byte, [][]byte)
		want string
	}{
		{func() ([]byte, [][]byte) { return EncodeEvent("/", -1, "e", []byte(`[1,{"_lolybin":"AQ=="}]`), true) },
			`51-["e",1,{"_placeholder":true,"num":0}] [[1]]`},
		{func() ([]byte, [][]byte) { return EncodeEvent("/a", 3, "e", []byte(`[1,"2"]`), false) },
			`2/a,3["e",[1,"2"]] []`},
		{func() ([]byte, [][]byte) { return EncodeEvent("/", -1, "e", nil, false) }, `2["e"] []`},
		{func() ([]byte, [][]byte) { return EncodeAck("/a", 5, []byte(`[1, 2]`), true) }, `3/a,5[1, 2] []`},
		{func() ([]byte, [][]byte) { return EncodeAck("/", 0, []byte(`[1,2]`), false) }, `30[[1,2]] []`},
		{func() ([]byte, [][]byte) { return EncodeAck("/", 0, nil, false) }, `30[] []`},
	} {
		b, atts := tc.pkt()
		if got := fmt.Sprintf("%s %v", b, atts); got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}
