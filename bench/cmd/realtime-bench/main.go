// Command realtime-bench measures github.com/lolyjs/realtime side by side
// with bare gws (the physical limit of its stack), centrifuge and
// Socket.IO 4, over loopback, each server in its own process.
//
//	realtime-bench run [flags]    # start the servers, run the workloads, print the tables
//	realtime-bench serve [flags]  # one Go server (the run command execs this)
//
// See BENCHMARKS.md at the root of the repository, and bench/run.sh, which
// reproduces everything with one command.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage()
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "realtime-bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  realtime-bench run [flags]     run the workloads (realtime-bench run -h for flags)
  realtime-bench serve [flags]   serve one Go server: realtime, gws or centrifuge
`)
	os.Exit(2)
}
