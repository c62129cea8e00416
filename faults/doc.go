// Package faults holds the fault tests that run the library as real
// processes: two server instances (built from faults/internal/server) and a
// private redis-server, killed, stopped and restarted while clients are
// connected. It has no code of its own; see RELIABILITY.md for what the tests
// prove and the command for each.
package faults
