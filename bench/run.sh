#!/usr/bin/env bash
# Reproduces BENCHMARKS.md with one command, on a Debian or Ubuntu machine
# with Go, Node.js (18 or later) and npm:
#
#   bench/run.sh                # micro-benchmarks, then every workload
#   bench/run.sh --no-micro     # workloads only
#   bench/run.sh -reps 1 -workloads echo,fanout   # flags go to realtime-bench run
#
# It installs what is missing (util-linux for taskset, redis-server), the
# Socket.IO peer's npm packages into bench/socketio, builds the load tool,
# starts a private Redis pinned to the servers' CPU for the cluster workload,
# and prints the tables. Results are also written to bench/results/. The
# servers run on CPU 0, the load generator on CPU 1 (-server-cpu, -load-cpu).
# It takes about seven minutes. CI does not run it.
set -euo pipefail
cd "$(dirname "$0")"
bench_dir=$(pwd)

micro=1
if [ "${1:-}" = "--no-micro" ]; then
	micro=0
	shift
fi

install() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "run.sh: $1 is missing; install it (apt-get install $1)" >&2
		exit 1
	fi
	echo "run.sh: installing $1"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}
command -v taskset >/dev/null 2>&1 || install util-linux
command -v redis-server >/dev/null 2>&1 || install redis-server
command -v go >/dev/null 2>&1 || { echo "run.sh: Go is required" >&2; exit 1; }
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "run.sh: Node.js and npm are required for the Socket.IO peer" >&2
	exit 1
fi

echo "run.sh: npm packages for the Socket.IO peer"
(cd socketio && npm ci --no-audit --no-fund --loglevel=error)

echo "run.sh: building the load tool"
mkdir -p bin results
go build -o bin/realtime-bench ./cmd/realtime-bench

# A private Redis on a free port, on the servers' CPU, gone when we exit.
port=$((20000 + RANDOM % 20000))
while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
redis_dir=$(mktemp -d)
taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
	--dir "$redis_dir" --logfile "$redis_dir/redis.log" &
redis_pid=$!
cleanup() {
	kill "$redis_pid" 2>/dev/null || true
	wait "$redis_pid" 2>/dev/null || true
	rm -rf "$redis_dir"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
	if (exec 3<>/dev/tcp/127.0.0.1/$port && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null; then
		break
	fi
	sleep 0.05
done
redis_url="redis://127.0.0.1:$port/0"

if [ "$micro" = 1 ]; then
	echo "run.sh: micro-benchmarks (go test -bench), REDIS_URL=$redis_url"
	(cd .. && REDIS_URL="$redis_url" go test -run '^$' -bench . -benchtime 1s . ./broadcast/redis) |
		tee "$bench_dir/results/micro.txt"
fi

echo "run.sh: workloads"
./bin/realtime-bench run -servers realtime,realtime-min,realtime-history,centrifuge,socketio \
	-redis "$redis_url" -redis-pid "$redis_pid" -socketio socketio \
	-out results/results.json -md results/results.md "$@"
