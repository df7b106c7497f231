#!/usr/bin/env bash
# run.sh measures what a newcomer waits for before `go run ./cmd/settle devnet`
# prints its first line, on this machine:
#
#   1. downloads the modules once (not timed: a first `go run` downloads them
#      too, at whatever speed the network gives);
#   2. builds ./cmd/settle RUNS times, each with an empty build cache (the
#      standard library included, as on a fresh machine), and prints each
#      build's wall time and CPU time;
#   3. starts the built `settle devnet` and prints how long it took to write
#      its first line.
#
# It ends with the machine, the date and the load average before and after,
# which the README states next to the figures.
#
# Environment (all optional):
#   RUNS  cold builds to time, default 2
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
runs=${RUNS:-2}
work=$(mktemp -d)
devnet=""
cleanup() {
	if [ -n "$devnet" ]; then kill "$devnet" 2>/dev/null || true; wait "$devnet" 2>/dev/null || true; fi
	chmod -R u+w "$work" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
go mod download

echo "packages in the binary: $(go list -deps ./cmd/settle | wc -l)"
for i in $(seq "$runs"); do
	cache="$work/cache$i"
	mkdir -p "$cache"
	TIMEFORMAT='%R %U %S'
	t=$( { time GOCACHE="$cache" go build -o "$work/settle" ./cmd/settle >/dev/null 2>&1; } 2>&1 )
	read -r real user sys <<<"$t"
	printf 'cold build %d: %s s wall, %s s CPU (user %s, sys %s)\n' "$i" "$real" \
		"$(echo "$user + $sys" | bc)" "$user" "$sys"
done
echo "binary: $(( $(stat -c %s "$work/settle") / 1048576 )) MiB"

# The first line of a built `settle devnet`: from exec to the first byte on
# stdout, on a free port and a data folder of its own.
out="$work/devnet.out"
start=$(date +%s.%N)
"$work/settle" devnet --addr 127.0.0.1:0 --rpc-addr 127.0.0.1:0 --data-dir "$work/devnet" >"$out" 2>&1 &
devnet=$!
for _ in $(seq 1000); do
	[ -s "$out" ] && break
	sleep 0.01
done
first=$(date +%s.%N)
printf 'settle devnet: first line after %.2f s: %s\n' "$(echo "$first - $start" | bc)" "$(head -1 "$out")"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3-)"
echo "date: $(date -u +%Y-%m-%d), load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
