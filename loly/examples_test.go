package loly_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// root is the module's root directory.
var root = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}()

// clients is where loly's client files and the harness that runs them live.
var clients = filepath.Join(root, "testdata", "loly")

// needClients skips the test when Node or the harness's packages are
// missing, unless REQUIRE_NODE=1 (CI), where it fails.
func needClients(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("node")
	if err == nil {
		for _, pkg := range []string{"esbuild", "react", "react-test-renderer", "socket.io-client"} {
			if _, err = os.Stat(filepath.Join(clients, "node_modules", pkg)); err != nil {
				break
			}
		}
	}
	if err != nil {
		if os.Getenv("REQUIRE_NODE") == "1" {
			t.Fatalf("node and the harness's packages are required (REQUIRE_NODE=1): %v; run npm ci in %s", err, clients)
		}
		t.Skipf("node or the harness's packages missing (npm ci in %s): %v", clients, err)
	}
}

// TestVendoredClientsAreLolys checks that the client files the harness
// runs are loly's, byte for byte: each one's git blob id is the one its
// repository has at the recorded commit.
func TestVendoredClientsAreLolys(t *testing.T) {
	list, err := os.ReadFile(filepath.Join(clients, "vendor", "SOURCES"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(list)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("SOURCES: bad line %q", line)
		}
		blob, repo, path := f[0], f[1], f[3]
		local := filepath.Join(clients, "vendor", strings.TrimPrefix(repo, "MenvielleValen/"), filepath.FromSlash(path))
		b, err := os.ReadFile(local)
		if err != nil {
			t.Fatal(err)
		}
		h := sha1.New()
		fmt.Fprintf(h, "blob %d\x00", len(b))
		h.Write(b)
		if got := fmt.Sprintf("%x", h.Sum(nil)); got != blob {
			t.Errorf("%s: blob %s, but %s has %s at that commit: the file was changed", local, got, repo, blob)
		}
		n++
	}
	if n != 6 {
		t.Fatalf("SOURCES lists %d files; want 6", n)
	}
}

// TestExampleAppsWithLolyClients builds each port of loly's example apps,
// serves it on a loopback port, and drives it with loly's own pages,
// unchanged, through the harness (testdata/loly/harness): two or more
// users, their events, what the pages show, and the errors they display.
func TestExampleAppsWithLolyClients(t *testing.T) {
	needClients(t)
	bin := t.TempDir()
	// The go command of the toolchain running the tests, not whichever is
	// first on PATH.
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goCmd); err != nil {
		goCmd = "go"
	}
	build := exec.Command(goCmd, "build", "-o", bin+string(filepath.Separator), "./_examples/loly/counter", "./_examples/loly/chat", "./_examples/loly/tictactoe")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, app := range []string{"counter", "chat", "tictactoe"} {
		t.Run(app, func(t *testing.T) {
			t.Parallel()
			url := serveApp(t, filepath.Join(bin, app))
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", filepath.Join("harness", "run.mjs"), app, url, t.TempDir())
			cmd.Dir = clients
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var steps []string
			done := false
			for line := range strings.Lines(stdout.String()) {
				var l map[string]any
				if json.Unmarshal([]byte(line), &l) != nil {
					continue
				}
				if e, ok := l["error"]; ok {
					t.Errorf("loly's %s client: %v", app, e)
				}
				if l["step"] == "done" {
					done = true
				}
				steps = append(steps, strings.TrimSpace(line))
			}
			if err != nil || !done {
				t.Fatalf("loly's %s client did not finish: %v\nsteps:\n%s\nclient stderr:\n%s", app, err, strings.Join(steps, "\n"), stderr.String())
			}
			t.Logf("%s:\n%s", app, strings.Join(steps, "\n"))
		})
	}
}

// serveApp starts an example on a free loopback port and returns its
// URL; the app is stopped with SIGTERM, and must exit cleanly, when the
// test ends.
func serveApp(t *testing.T, binary string) string {
	t.Helper()
	cmd := exec.Command(binary, "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("%s exited with %v\n%s", filepath.Base(binary), err, stderr.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop within 15s of SIGTERM", filepath.Base(binary))
		}
		if strings.Contains(stderr.String(), "panic") {
			t.Errorf("%s panicked:\n%s", filepath.Base(binary), stderr.String())
		}
	})
	select {
	case a := <-addr:
		return "http://" + a
	case err := <-exited:
		t.Fatalf("%s exited before listening: %v\n%s", filepath.Base(binary), err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not listen within 30s\n%s", filepath.Base(binary), stderr.String())
	}
	return ""
}
