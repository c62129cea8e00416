package loly_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/lolyjs/realtime/internal/testkit"
)

// TestMain fails the package's tests if any goroutine outlives them. The
// memory store of ulule/limiter runs a cleaner goroutine that only the
// garbage collector stops, so it is not ours to wait for.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testkit.IgnoreLimiterCleaner())
}
