package presence

import (
	"fmt"
	"time"
)

// Check returns what is wrong with the presence events of a namespace, or
// "": the mode of its rooms, whether a function picks each room's mode
// instead, and how often at most a room sends its count.
func Check(mode Mode, rooms bool, countInterval time.Duration) string {
	switch {
	case mode > ModeCounts:
		return fmt.Sprintf("Mode %d is not a PresenceMode", mode)
	case mode == ModeOff && !rooms:
		return "neither Mode nor Rooms picks a room; set Mode to PresenceEvents or PresenceCounts, or give Rooms"
	case countInterval < 0 || (countInterval > 0 && countInterval < 10*time.Millisecond):
		return fmt.Sprintf("CountInterval is %v; it must be at least 10ms (default 1s)", countInterval)
	}
	return ""
}
