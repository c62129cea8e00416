// Package siotest runs the real socket.io-client 4.x (testdata/socketio,
// installed with npm) from Go tests, through the scenarios of client.js.
// Tests are skipped when Node or the package is missing, unless
// REQUIRE_NODE=1 (as CI sets), where they fail.
package siotest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The tests of the Socket.IO transport drive the real socket.io-client 4.x
// (testdata/socketio, installed with npm) from Node.

// Dir is where client.js and its node_modules live.
var Dir = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "socketio")
}()

// NeedNode skips the test when Node or socket.io-client is missing, unless
// REQUIRE_NODE=1 (CI), where it fails.
func NeedNode(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(Dir, "node_modules", "socket.io-client"))
	}
	if err != nil {
		if os.Getenv("REQUIRE_NODE") == "1" {
			t.Fatalf("socket.io-client required (REQUIRE_NODE=1): %v; run npm ci in %s", err, Dir)
		}
		t.Skipf("socket.io-client not installed (npm ci in %s): %v", Dir, err)
	}
}

// Line is one JSON line a scenario printed.
type Line map[string]any

// Run runs a scenario of client.js to its end and returns its lines.
func Run(t *testing.T, scenario string, opts map[string]any) []Line {
	t.Helper()
	lines, err := Start(t, scenario, opts).Wait()
	if err != nil {
		t.Fatalf("socket.io-client %s: %v\n%s", scenario, err, Dump(lines))
	}
	return lines
}

// Client is a running scenario.
type Client struct {
	cmd   *exec.Cmd
	lines chan Line
	done  chan error
	all   []Line
}

// Start starts a scenario of client.js with its options.
func Start(t *testing.T, scenario string, opts map[string]any) *Client {
	t.Helper()
	NeedNode(t)
	raw, _ := json.Marshal(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "node", "client.js", scenario, string(raw))
	cmd.Dir = Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	nc := &Client{cmd: cmd, lines: make(chan Line, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l Line
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				nc.lines <- l
			}
		}
		close(nc.lines)
		err := cmd.Wait()
		if err != nil {
			err = errors.Join(err, errors.New(stderr.String()))
		}
		nc.done <- err
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return nc
}

// Next returns the next line, failing on a client error.
func (nc *Client) Next(t *testing.T) Line {
	t.Helper()
	select {
	case l, ok := <-nc.lines:
		if !ok {
			t.Fatalf("client ended early: %v\n%s", <-nc.done, Dump(nc.all))
		}
		nc.all = append(nc.all, l)
		if e, bad := l["error"]; bad {
			t.Fatalf("client error: %v", e)
		}
		return l
	case <-time.After(45 * time.Second):
		t.Fatal("no line from the client")
	}
	return nil
}

// Wait waits for the scenario to end and returns its lines.
func (nc *Client) Wait() ([]Line, error) {
	for l := range nc.lines {
		nc.all = append(nc.all, l)
	}
	err := <-nc.done
	for _, l := range nc.all {
		if e, bad := l["error"]; bad && err == nil {
			err = errors.New(e.(string))
		}
	}
	return nc.all, err
}

// Dump formats lines for a failure message.
func Dump(lines []Line) string {
	var b strings.Builder
	for _, l := range lines {
		raw, _ := json.Marshal(l)
		b.Write(raw)
		b.WriteByte('\n')
	}
	return b.String()
}

// Step returns the line of a named step.
func Step(t *testing.T, lines []Line, name string) Line {
	t.Helper()
	for _, l := range lines {
		if l["step"] == name {
			return l
		}
	}
	t.Fatalf("no step %q in\n%s", name, Dump(lines))
	return nil
}

// JSON formats a value as JSON.
func JSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
