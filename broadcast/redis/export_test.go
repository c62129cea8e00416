package redis

import "time"

// SetPingInterval sets the health-check interval of brokers created from now
// on and returns a function that restores it. Not for parallel tests.
func SetPingInterval(d time.Duration) (restore func()) {
	old := pingInterval
	pingInterval = d
	return func() { pingInterval = old }
}
