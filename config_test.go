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
		{name: "single mode", cfg: realtime.Config{Scale: realtime.Scale{Mode: realtime.ModeSingle}}},
		{name: "cluster without Redis", cfg: realtime.Config{Scale: realtime.Scale{Mode: realtime.ModeCluster}},
			want: []string{"REDIS_URL", "Scale.RedisURL"}},
		{name: "cluster with a URL but no backends",
			cfg:  realtime.Config{Scale: realtime.Scale{Mode: realtime.ModeCluster, RedisURL: "redis://127.0.0.1:6379/0"}},
			want: []string{"Store or Broker is nil"}},
		{name: "bad mode", cfg: realtime.Config{Scale: realtime.Scale{Mode: "multi"}},
			want: []string{`Scale.Mode is "multi"`, `"single"`, `"cluster"`}},
		{name: "negative durations and sizes", cfg: realtime.Config{
			PingInterval: -time.Second, PingTimeout: -1, MaxPayloadBytes: -5, SendQueueBytes: -1, WriteTimeout: -1,
		}, want: []string{"PingInterval is -1s", "PingTimeout", "MaxPayloadBytes is -5", "SendQueueBytes is -1", "WriteTimeout"}},
		{name: "empty origin", cfg: realtime.Config{AllowedOrigins: []string{"https://a.example", ""}},
			want: []string{"AllowedOrigins has an empty entry"}},
		{name: "all at once", cfg: realtime.Config{
			PingInterval: -1, MaxPayloadBytes: -1, Scale: realtime.Scale{Mode: realtime.ModeCluster},
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

// Cluster mode with its backends given directly needs no Redis URL.
func TestConfigClusterWithBackends(t *testing.T) {
	st := storemem.New()
	defer st.Close()
	br := memory.New()
	defer br.Close()
	cfg := realtime.Config{Scale: realtime.Scale{Mode: realtime.ModeCluster}, Store: st, Broker: br}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Start refuses a bad config with Validate's error, and the defaults are
// loly's.
func TestConfigDefaultsAndStart(t *testing.T) {
	mux := realtime.New(realtime.Config{Scale: realtime.Scale{Mode: realtime.ModeCluster}})
	if err := mux.Start(bg()); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("Start: %v, want the REDIS_URL problem", err)
	}
	c := realtime.New(realtime.Config{}).Config()
	if c.Path != "/wss" || c.PingInterval != 25*time.Second || c.PingTimeout != 20*time.Second ||
		c.MaxPayloadBytes != 64<<10 || c.Limits.ConnectionsPerIP != 20 || c.Limits.EventsPerSecond != 30 ||
		c.Limits.Burst != 60 || c.Scale.Mode != realtime.ModeSingle {
		t.Fatalf("defaults: %+v", c)
	}
}
