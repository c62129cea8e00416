package realtime_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// socket, read loop and write job must end with its server.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
