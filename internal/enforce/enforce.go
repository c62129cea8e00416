// Package enforce records which stages of a chain put which declared
// settings into effect, and names the declared settings that no stage of
// their chain enforces, so that the mux refuses to start without them.
//
// A stage is known by the address of its code: every closure made by one
// function literal shares it.
package enforce

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// The settings a stage can enforce, as bits of a set.
const (
	Auth = 1 << iota
	Guard
	RateLimit
	Schema
)

// names holds each setting's field name and its standard stage.
var names = map[uint8][2]string{
	Auth:      {"Auth", "middleware.Auth"},
	Guard:     {"Guard", "middleware.Guard"},
	RateLimit: {"RateLimit", "middleware.RateLimit"},
	Schema:    {"Schema", "middleware.Validate or a realtime.Typed handler"},
}

// Name returns the field name of one setting, and false for any other set.
func Name(set uint8) (string, bool) {
	n, ok := names[set]
	return n[0], ok
}

var (
	mu      sync.Mutex
	byStage = map[uintptr]uint8{}
)

// Record records, for the life of the process, that the function fn, and
// every closure made by its function literal, enforces set.
func Record(fn any, set uint8) {
	code := reflect.ValueOf(fn).Pointer()
	mu.Lock()
	byStage[code] |= set
	mu.Unlock()
}

// Of returns what the stages and the handler h (a function, or nil)
// enforce together.
func Of[F any](stages []F, h any) uint8 {
	mu.Lock()
	defer mu.Unlock()
	var set uint8
	if h != nil {
		set = byStage[reflect.ValueOf(h).Pointer()]
	}
	for _, st := range stages {
		set |= byStage[reflect.ValueOf(st).Pointer()]
	}
	return set
}

// Declared is a setting that may be declared for a chain: the field that
// declares it, the setting, and whether it is declared.
type Declared struct {
	Field    string
	Setting  uint8
	Declared bool
}

// Missing appends to out a line for each declared setting that have, what
// the chain of what (at where) enforces, leaves out.
func Missing(out []string, where, what string, have uint8, settings ...Declared) []string {
	for _, d := range settings {
		if d.Declared && have&d.Setting == 0 {
			out = append(out, fmt.Sprintf("%s %s: %s is set but no stage in its chain enforces it; add %s",
				where, what, d.Field, names[d.Setting][1]))
		}
	}
	return out
}

// Err returns the lines of Missing in one error, or nil.
func Err(lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	return errors.New("realtime: declared settings that no stage enforces (add the stage with Use, With or Group, or record a replacement with realtime.Enforces):\n  - " +
		strings.Join(lines, "\n  - "))
}
