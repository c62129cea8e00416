package realtime_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lolyjs/realtime"
	"github.com/lolyjs/realtime/broadcast/memory"
	storemem "github.com/lolyjs/realtime/store/memory"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  realtime.Config
		want []string // every one must be named; none means valid
	}{
		{name: "zero value", cfg: realtime.Config{}},
		{name: "a store alone", cfg: realtime.Config{Store: storemem.New()}},
		{name: "a broker without a shared store", cfg: realtime.Config{Broker: memory.New()},
			want: []string{"Broker is set but Store is not", "REDIS_URL"}},
		{name: "negative durations and sizes", cfg: realtime.Config{
			PingInterval: -time.Second, PingTimeout: -1, MaxPayloadBytes: -5, SendQueueBytes: -1, WriteTimeout: -1,
		}, want: []string{"PingInterval is -1s", "PingTimeout", "MaxPayloadBytes is -5", "SendQueueBytes is -1", "WriteTimeout"}},
		{name: "instance id with a newline", cfg: realtime.Config{InstanceID: "a\n!disconnect"},
			want: []string{"InstanceID \"a\\n!disconnect\" holds a control character"}},
		{name: "instance id with a NUL", cfg: realtime.Config{InstanceID: "\x00H"},
			want: []string{"InstanceID \"\\x00H\" holds a control character"}},
		{name: "empty origin", cfg: realtime.Config{AllowedOrigins: []string{"https://a.example", ""}},
			want: []string{"AllowedOrigins has an empty entry"}},
		{name: "all at once", cfg: realtime.Config{
			PingInterval: -1, MaxPayloadBytes: -1, Broker: memory.New(),
		}, want: []string{"PingInterval", "MaxPayloadBytes", "REDIS_URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted a bad config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not name %q:\n%v", w, err)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "realtime: config: ") {
					t.Errorf("problem %q lacks the realtime: config: prefix", line)
				}
			}
			if n := strings.Count(err.Error(), "\n") + 1; tt.name == "all at once" && n != 3 {
				t.Errorf("%d problems reported, want the 3, each on its own line:\n%v", n, err)
			}
		})
	}
}

// A cluster's backends given directly need no Redis URL.
func TestConfigClusterWithBackends(t *testing.T) {
	st := storemem.New()
	defer st.Close()
	br := memory.New()
	defer br.Close()
	cfg := realtime.Config{Store: st, Broker: br}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Start refuses a bad config with Validate's error, and the defaults are
// loly's.
func TestConfigDefaultsAndStart(t *testing.T) {
	br := memory.New()
	defer br.Close()
	mux := realtime.New(realtime.Config{Broker: br})
	if err := mux.Start(bg()); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("Start: %v, want the REDIS_URL problem", err)
	}
	c := realtime.New(realtime.Config{}).Config()
	if c.Path != "/wss" || c.PingInterval != 25*time.Second || c.PingTimeout != 20*time.Second ||
		c.MaxPayloadBytes != 64<<10 || c.Limits.ConnectionsPerIP != 20 || c.Limits.EventsPerSecond != 30 ||
		c.Limits.Burst != 60 {
		t.Fatalf("defaults: %+v", c)
	}
}
