#!/usr/bin/env bash
# run.sh measures settle's idle footprint on this machine:
#
#   1. builds the binary three ways and prints each size: the default build
#      (`go build`, with the devnet), the same stripped (-trimpath
#      -ldflags='-s -w'), and the release build (stripped, CGO_ENABLED=0,
#      -tags nodevnet: without the devnet's in-process chain, `settle devnet`,
#      `settle pay` and `settle bench detect`);
#   2. starts fakechain (next to this script): two EVM networks, Sepolia and
#      Base Sepolia, each making an empty block every second;
#   3. for each build in BUILDS, runs `settle serve` on a fresh SQLite file
#      with both networks configured (SETTLE_RPC_SEPOLIA,
#      SETTLE_RPC_BASE_SEPOLIA), leaves it idle IDLE seconds, and prints its
#      resident memory from /proc (VmRSS, and its parts RssAnon, the
#      process's own memory, and RssFile, the pages of the binary and
#      libraries mapped in), its peak (VmHWM), threads, and from /metrics
#      its goroutines and Go heap;
#   4. with PGHOST_URL set, the same on a fresh Postgres database, plus the
#      transactions per second there over the last IDLE/2 seconds
#      (pg_stat_database: a rough figure, since it counts autovacuum's too
#      and backends report with a delay of up to 10 s); with PGLOG also set
#      (the server's log file, readable), the database logs every statement
#      (log_statement = all) and the script prints the statements per second
#      of the same window, grouped (numbers and strings folded).
#
# Before each run the binary is copied and its page cache dropped (`dd
# iflag=nocache`), as for a binary installed rather than just written by the
# linker: this kernel maps a file's cached pages a whole large folio at a
# time, so a freshly linked binary shows nearly all of itself in RssFile
# (about 10 MiB more than one read back from disk).
#
# Environment (all optional):
#   IDLE         seconds idle before measuring, default 30
#   BUILDS       which builds to run: any of default, stripped, release;
#                default "release default"
#   PGHOST_URL   Postgres server (a superuser: a database is created and
#                dropped), e.g. postgres://postgres@127.0.0.1:5432; unset:
#                SQLite only
#   PGLOG        the Postgres server's log file, e.g.
#                /var/log/postgresql/postgresql-15-main.log (its line prefix
#                must name the database, as Debian's does: user@database)
#
# Everything it starts is stopped, and its work directory removed, on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
idle=${IDLE:-30}
builds=${BUILDS:-release default}
work=$(mktemp -d)
pids=()
pgdb=""
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	if [ -n "$pgdb" ]; then psql "$PGHOST_URL/postgres" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
mib() { awk -v b="$1" 'BEGIN{printf "%.1f MiB", b/1048576}'; }

go build -o "$work/default" ./cmd/settle
go build -trimpath -ldflags='-s -w' -o "$work/stripped" ./cmd/settle
CGO_ENABLED=0 go build -tags nodevnet -trimpath -ldflags='-s -w' -o "$work/release" ./cmd/settle
go build -o "$work/fakechain" ./cmd/settle/testdata/footprint/fakechain
for b in default stripped release; do
	printf 'binary %-9s %s\n' "$b" "$(mib "$(stat -c %s "$work/$b")")"
done
echo "release: CGO_ENABLED=0 go build -tags nodevnet -trimpath -ldflags='-s -w' ./cmd/settle"

"$work/fakechain" >"$work/chains" 2>"$work/fakechain.err" &
pids+=($!)
for _ in $(seq 100); do [ "$(wc -l <"$work/chains")" -ge 2 ] && break; sleep 0.05; done
sepolia=$(awk '$1 == 11155111 {print $2}' "$work/chains")
base_sepolia=$(awk '$1 == 84532 {print $2}' "$work/chains")

# measure BUILD DATABASE_URL: one idle run, printed as one line.
measure() {
	local build=$1 url=$2 bin="$work/run-$1" log="$work/serve-$1.log"
	cp "$work/$build" "$bin"
	sync "$bin"
	dd if="$bin" iflag=nocache count=0 status=none
	SETTLE_DATABASE_URL="$url" SETTLE_RPC_SEPOLIA="$sepolia" SETTLE_RPC_BASE_SEPOLIA="$base_sepolia" \
		"$bin" serve --addr 127.0.0.1:0 >"$log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	local addr=""
	for _ in $(seq 200); do
		addr=$(grep -o '"addr":"[^"]*"' "$log" | head -1 | cut -d'"' -f4 || true)
		[ -n "$addr" ] && break
		sleep 0.05
	done
	[ -n "$addr" ] || { echo "serve did not start:"; cat "$log"; exit 1; }
	local xact0="" log0=""
	if [ -n "$pgdb" ]; then
		sleep $((idle - idle / 2))
		xact0=$(psql "$PGHOST_URL/postgres" -Atc "SELECT pg_stat_clear_snapshot(); SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$pgdb'" | tail -1)
		[ -n "${PGLOG:-}" ] && log0=$(wc -c <"$PGLOG")
		sleep $((idle / 2))
	else
		sleep "$idle"
	fi
	local st m
	st=$(cat "/proc/$pid/status")
	m=$(curl -sf "http://$addr/metrics")
	field() { awk -v k="$1:" '$1 == k {printf "%.1f", $2/1024}' <<<"$st"; }
	metric() { awk -v k="$1" '$1 == k {print $2}' <<<"$m"; }
	printf '%-8s %-8s after %ss idle: VmRSS %s MiB (RssAnon %s, RssFile %s), VmHWM %s MiB, threads %s, goroutines %s, Go heap in use %s, networks watched %s' \
		"$build" "${url%%:*}" "$idle" "$(field VmRSS)" "$(field RssAnon)" "$(field RssFile)" "$(field VmHWM)" \
		"$(awk '$1 == "Threads:" {print $2}' <<<"$st")" "$(metric go_goroutines)" \
		"$(mib "$(metric go_memstats_heap_inuse_bytes | awk '{printf "%d", $1}')")" \
		"$(grep -c '^settle_chain_head_block{' <<<"$m" || true)"
	if [ -n "$xact0" ]; then
		local xact1
		xact1=$(psql "$PGHOST_URL/postgres" -Atc "SELECT pg_stat_clear_snapshot(); SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$pgdb'" | tail -1)
		awk -v a="$xact0" -v b="$xact1" -v s="$((idle / 2))" 'BEGIN{printf ", %.1f transactions/s", (b - a) / s}'
	fi
	echo
	if [ -n "$log0" ]; then
		tail -c +"$((log0 + 1))" "$PGLOG" | grep "@$pgdb .*statement: " | sed -E 's/.*statement: //' |
			sed -E "s/'[^']*'/?/g; s/[0-9]+/N/g" | cut -c1-100 | sort | uniq -c | sort -rn |
			awk -v s="$((idle / 2))" '{n = $1; $1 = ""; t += n; printf "  %5.2f/s %s\n", n / s, $0} END {printf "  %5.2f/s statements in all\n", t / s}'
	fi
	kill "$pid"
	wait "$pid" 2>/dev/null || true
}

for b in $builds; do
	rm -f "$work"/settle.db*
	measure "$b" "sqlite://$work/settle.db"
done
if [ -n "${PGHOST_URL:-}" ]; then
	for b in $builds; do
		pgdb="settle_footprint_$$"
		psql "$PGHOST_URL/postgres" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" -qc "CREATE DATABASE $pgdb" >/dev/null 2>&1
		if [ -n "${PGLOG:-}" ]; then psql "$PGHOST_URL/postgres" -qc "ALTER DATABASE $pgdb SET log_statement = 'all'" >/dev/null; fi
		measure "$b" "$PGHOST_URL/$pgdb?sslmode=disable"
		psql "$PGHOST_URL/postgres" -qc "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1
	done
fi
echo "machine: $(nproc) CPUs, $(uname -r), $(go version | cut -d' ' -f3), commit $(git rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
