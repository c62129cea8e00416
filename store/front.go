package store

import "context"

// FrontPusher is implemented by stores that can also push to the front of a
// list: newest first, trimmed to the newest maxLen. That is the layout of
// loly's listPush (LPUSH then LTRIM 0..maxLen-1), which a Go server must
// keep to share lists with a TypeScript one during a migration. Both stores
// of this module implement it; the loly package uses it for its State.
type FrontPusher interface {
	// ListPushFront pushes values to the front of the list at key one after
	// another, as Redis LPUSH does (so the last value given ends first),
	// and, when maxLen > 0, trims the list to its first maxLen elements, in
	// one atomic step. It returns the list's length after the trim. With no
	// values it only trims, and does not create a missing list.
	ListPushFront(ctx context.Context, key string, maxLen int, values ...[]byte) (int, error)
}
