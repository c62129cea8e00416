// Package conf holds the rules of a mux's configuration: the defaults of the
// fields left zero, and the checks of the fields that are set, each problem
// naming the field and the fix. It works on references to the fields, so
// that it fills them in where they are.
package conf

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Fields are references to the configuration's fields that get defaults or
// have rules, and the facts the checks need of the others.
type Fields struct {
	Path *string

	PingInterval, PingTimeout, WriteTimeout, HandshakeTimeout *time.Duration
	PresenceTTL, SocketIOConnectTimeout                       *time.Duration

	MaxPayloadBytes, SendQueueBytes            *int
	ConnectionsPerIP, Burst, MaxRoomsPerSocket *int
	EventsPerSecond                            *float64

	InstanceID     string
	AllowedOrigins []string
	// Whether CheckOrigin, Broker and Store are set.
	CheckOrigin, Broker, Store bool
}

// Defaults are the values Fill gives the fields left zero.
type Defaults struct {
	Path string

	PingInterval, PingTimeout, WriteTimeout, HandshakeTimeout time.Duration
	PresenceTTL, SocketIOConnectTimeout                       time.Duration

	MaxPayloadBytes, SendQueueBytes            int
	ConnectionsPerIP, Burst, MaxRoomsPerSocket int
	EventsPerSecond                            float64
}

// Fill gives each field left zero its default, and cleans the path: one
// leading slash, none trailing, and "" for the root.
func (f Fields) Fill(d Defaults) {
	if *f.Path == "" {
		*f.Path = d.Path
	}
	*f.Path = "/" + strings.Trim(*f.Path, "/")
	if *f.Path == "/" {
		*f.Path = ""
	}
	orDefault(f.PingInterval, d.PingInterval)
	orDefault(f.PingTimeout, d.PingTimeout)
	orDefault(f.MaxPayloadBytes, d.MaxPayloadBytes)
	orDefault(f.ConnectionsPerIP, d.ConnectionsPerIP)
	orDefault(f.EventsPerSecond, d.EventsPerSecond)
	orDefault(f.Burst, d.Burst)
	orDefault(f.MaxRoomsPerSocket, d.MaxRoomsPerSocket)
	orDefault(f.SendQueueBytes, d.SendQueueBytes)
	orDefault(f.WriteTimeout, d.WriteTimeout)
	orDefault(f.HandshakeTimeout, d.HandshakeTimeout)
	orDefault(f.PresenceTTL, d.PresenceTTL)
	orDefault(f.SocketIOConnectTimeout, d.SocketIOConnectTimeout)
}

// orDefault sets *p to def when it is zero.
func orDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// Check reports every problem of the fields at once. Zero fields are not
// problems: they get defaults.
func (f Fields) Check() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("realtime: config: "+format, args...))
	}
	if *f.PingInterval < 0 {
		bad("PingInterval is %v; it must be positive (default 25s)", *f.PingInterval)
	}
	if *f.PingTimeout < 0 {
		bad("PingTimeout is %v; it must be positive (default 20s)", *f.PingTimeout)
	}
	if *f.MaxPayloadBytes < 0 {
		bad("MaxPayloadBytes is %d; it must be positive (default 65536)", *f.MaxPayloadBytes)
	}
	if *f.SendQueueBytes < 0 {
		bad("SendQueueBytes is %d; it must be positive (default 1048576, 1 MiB)", *f.SendQueueBytes)
	}
	if ttl := *f.PresenceTTL; ttl < 0 || (ttl > 0 && ttl < 30*time.Millisecond) {
		bad("PresenceTTL is %v; it must be at least 30ms (default 30s)", ttl)
	}
	if *f.WriteTimeout < 0 || *f.HandshakeTimeout < 0 || *f.SocketIOConnectTimeout < 0 {
		bad("WriteTimeout, HandshakeTimeout and SocketIOConnectTimeout must be positive")
	}
	if *f.EventsPerSecond < 0 && *f.Burst > 0 {
		bad("Limits.Burst is set but Limits.EventsPerSecond is negative (off); set both or neither")
	}
	if strings.IndexFunc(f.InstanceID, unicode.IsControl) >= 0 {
		bad("InstanceID %q holds a control character; it starts every cluster message, which are framed by lines, so use a plain name", f.InstanceID)
	}
	for _, o := range f.AllowedOrigins {
		if o == "" {
			bad("AllowedOrigins has an empty entry; use \"*\" to allow every origin or a full origin like https://example.com")
		}
	}
	if f.CheckOrigin && len(f.AllowedOrigins) > 0 {
		bad("AllowedOrigins and CheckOrigin are both set; CheckOrigin would decide alone, so put every rule in it or drop it")
	}
	if f.Broker && !f.Store {
		bad("Broker is set but Store is not: each instance would keep its own state and presence; " +
			"give every instance the same shared Store, such as the one cluster.Redis (package github.com/lolyjs/realtime/cluster) builds from REDIS_URL")
	}
	return errors.Join(errs...)
}
