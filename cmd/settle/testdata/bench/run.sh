#!/usr/bin/env bash
# run.sh measures invoice creation against the database's own ceiling for
# the same work, on this machine, as interleaved pairs:
#
#   A. Postgres: `settle bench create` against `settle serve` on a fresh
#      migrated database, versus pgbench running pgbench-create-invoice.sql
#      (the statements the API sends for one create, captured from the server
#      log; see that file) on the same database.
#   B. SQLite: `settle bench create` against `settle serve` on a fresh file,
#      versus `settle bench sqlite-raw` (the same statements and rows through
#      the same driver, pragmas and single connection, without the API) on
#      the same file.
#
#   C. Webhooks on Postgres (`settle bench webhooks`, 10 endpoints on a local
#      receiver that verifies every signature, each endpoint its own
#      merchant's, so one delivery per event; 32 workers, 4 per endpoint):
#      C1 delivered/s against the rate the same run wrote events at
#         (WH_RATE, default 1000/s): the ratio is the engine keeping up;
#      C2 the healthy endpoints' p99 latency with one of the ten never
#         answering, paired with a run where all ten answer (WH_HANG_RATE,
#         default 500 events/s);
#      C3 the drain rate of a 100,000-delivery backlog, paired with a
#         10,000-delivery one, and the buffers one claim of 32 reads at each
#         size (EXPLAIN (ANALYZE, BUFFERS), rolled back).
#      Every webhook run gets a fresh database.
#
#   D. Payment detection (`settle bench detect --payments 200`, an in-process
#      chain, each payment a real ERC-20 transfer in a block of its own,
#      timed from the block's commit to the paid event at a webhook receiver
#      and a merchant WebSocket), PAIRS runs on SQLite and on Postgres. There
#      is no reference: the goal is p99 under 100 ms.
#   E. Matching (`go test ./chains -bench Match`: transfers recorded through
#      the ledger against 1,000 and 100,000 open invoices, and a million with
#      BENCH_LARGE=1), SQLite and Postgres. The goal is a flat rate across sizes.
#   F. Merchant WebSockets (`settle bench ws --connections 10000 --rate 5
#      --duration 10s`, SQLite), PAIRS pairs: p99 from an event's commit to
#      its receipt on every connection, against the 100 ms goal, nothing
#      missing, and the server's memory per connection; each run paired
#      with `--server raw`, the reference: the same events framed as settle
#      frames them and written to each socket with one non-blocking write,
#      with nothing in between (no database, sequencer or hub), to the same
#      clients: the floor the kernel sets on this machine.
#   G. Idle footprint: cmd/settle/testdata/footprint/run.sh (release and
#      default builds, two EVM networks watched, idle 30 s, SQLite and the
#      Postgres at PGHOST_URL; see its header), against the 40 MiB goal.
#
# Each comparison runs PAIRS pairs: settle, reference, settle, reference, …
# Every run starts from empty invoices and events tables (the other side's
# rows deleted) and gets a warm-up of WARMUP seconds (not counted), then a CHECKPOINT
# (Postgres) or a truncating WAL checkpoint (SQLite, `settle bench sqlite-raw
# --checkpoint`), then the measured run of DURATION seconds. The 1-minute load average is recorded
# before each pair. It prints, per comparison, each pair's rates and ratio,
# per side min/median/max, and the ratio of medians beside the goal (settle
# at least 70 % of the reference); and the machine, date, commit, Go and
# Postgres versions, and the total time. Client, server and database share
# the machine. The figures are only as quiet as the machine: compare the
# load averages. A and B also print where the CPU went per invoice (the
# server, the load generator, and the rest of the machine's busy time, which
# is the database's on a quiet machine), medians over the pairs.
#
# Environment (all optional):
#   PGHOST_URL   Postgres server, default postgres://postgres@127.0.0.1:5432
#                (a superuser: the script creates and drops its database and
#                runs CHECKPOINT)
#   CONCURRENCY  settle bench workers, pgbench clients and sqlite-raw
#                workers, default 16
#   DURATION     seconds per measured run, default 15
#   PAIRS        pairs per comparison, default 3 (at least 1; 3 or more to
#                see the spread)
#   WARMUP       seconds of warm-up before each run, default 2
#   ONLY         A, B, C, D, E, F or G to run one part only; default all
#   WH_RATE, WH_HANG_RATE  events/s written in C1 and C2 (defaults 1000, 500)
#   KEEP_DB=1    keep the Postgres database and the work directory
#   PGBENCH, PSQL  the pgbench and psql binaries (default: from PATH, else
#                Debian's PostgreSQL 15 location)
#
# Everything it starts (servers, the database, the work directory) is
# removed on exit, also on failure or Ctrl-C.
set -euo pipefail

t_start=$(date +%s)
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
pg=${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}
conc=${CONCURRENCY:-16}
secs=${DURATION:-15}
pairs=${PAIRS:-3}
warm=${WARMUP:-2}
only=${ONLY:-}
wh_rate=${WH_RATE:-1000}
wh_hang_rate=${WH_HANG_RATE:-500}
PGBENCH=${PGBENCH:-$(command -v pgbench || echo /usr/lib/postgresql/15/bin/pgbench)}
PSQL=${PSQL:-$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)}
goal=70

for v in conc secs pairs warm wh_rate wh_hang_rate; do
	case ${!v} in '' | *[!0-9]*) echo "run.sh: $v=${!v}: want a whole number" >&2; exit 2 ;; esac
done
[ "$pairs" -ge 1 ] && [ "$conc" -ge 1 ] && [ "$secs" -ge 1 ] || { echo "run.sh: PAIRS, CONCURRENCY and DURATION must be at least 1" >&2; exit 2; }
case $only in '' | A | B | C | D | E | F | G) ;; *) echo "run.sh: ONLY=$only: want A, B, C, D, E, F or G" >&2; exit 2 ;; esac

work=$(mktemp -d)
db=settle_bench_$(date +%s)_$$
pgurl="$pg/$db?sslmode=disable"
server=""
db_created=""
whdb=""
detdb=""
matchdb=""

cleanup() {
	if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
	if [ "${KEEP_DB:-}" != 1 ]; then
		if [ -n "$db_created" ]; then "$PSQL" "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; fi
		for d in "$whdb" "$detdb" "$matchdb"; do
			if [ -n "$d" ]; then "$PSQL" "$pg/postgres" -qc "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true; fi
		done
		rm -rf "$work"
	else
		echo "kept: database $db, directory $work" >&2
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a TCP port nothing on 127.0.0.1 answers on.
free_port() {
	local p
	for p in $(seq 18400 18500); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	echo "no free port in 18400-18500" >&2; exit 1
}

# serve DATABASE_URL LOG starts settle serve on a free port and waits until
# it answers; the port is left in $port.
serve() {
	port=$(free_port)
	SETTLE_DATABASE_URL=$1 SETTLE_ADDR=127.0.0.1:$port "$work/settle" serve 2>>"$2" &
	server=$!
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
		sleep 0.1
	done
	echo "settle serve did not start; log:" >&2; cat "$2" >&2; exit 1
}

stop() { kill "$server"; wait "$server" || true; server=""; }

# key prints test_api_key of `settle merchants create`'s JSON; merchant its id.
key() { sed -n 's/.*"test_api_key":"\([^"]*\)".*/\1/p'; }
merchant() { sed -n 's/.*"merchant_id":"\([^"]*\)".*/\1/p'; }

# jfield FILE NAME prints a top-level number of a bench JSON result.
jfield() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1" | head -1; }
load1() { cut -d' ' -f1 /proc/loadavg; }
pgcheckpoint() { "$PSQL" "$pgurl" -qc CHECKPOINT; }
sqcheckpoint() { "$work/settle" bench sqlite-raw --database "$surl" --checkpoint; }
# Each run starts from empty invoices and events, whichever side ran
# before: the reference leaves its events unnumbered, and a server started
# after it would number them all while being measured.
pgreset() { "$PSQL" "$pgurl" -qc "SET client_min_messages = warning" -c "TRUNCATE invoices, events CASCADE"; }
sqreset() { "$work/settle" bench sqlite-raw --database "$surl" --reset; }

# CPU accounting, so that a ratio comes with where the time went: busy is
# the whole machine's CPU time in ticks (user, nice, system, irq, softirq of
# /proc/stat), ticks PID one process's; timed runs a command and leaves its
# own CPU seconds (user + system, children included) in $cpu_s.
hz=$(getconf CLK_TCK)
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
timed() {
	local TIMEFORMAT='%U %S' t
	t=$({ time "$@" >"$timed_out" 2>>"$timed_err"; } 2>&1) || true
	cpu_s=$(echo "$t" | awk '{ print $1 + $2 }')
}
# ticks_of prints $cpu_s (seconds) in ticks.
ticks_of() { awk -v c="$cpu_s" -v hz="$hz" 'BEGIN { printf "%d", c * hz }'; }
# ms_per N TICKS prints TICKS as milliseconds of CPU per invoice of N.
ms_per() { awk -v n="$1" -v t="$2" -v hz="$hz" 'BEGIN { printf "%.3f", (n > 0 ? 1000 * t / hz / n : 0) }'; }

# settle_run NAME DATABASE_URL KEY CHECKPOINT_CMD: serve, warm up,
# checkpoint, measure, stop. Leaves created/s in $rate and the CPU per
# invoice in $cpu ("machine server client", ms; the machine's includes the
# database's and anything else running); the JSON is kept in NAME.json.
# (Not run in a subshell: the exit trap must see $server.)
settle_run() {
	local name=$1 url=$2 k=$3 b0 s0 b1 s1 n
	shift 3
	serve "$url" "$work/$name.serve.log"
	"$work/settle" bench create --url "http://127.0.0.1:$port" --key "$k" --concurrency "$conc" --duration "${warm}s" >/dev/null 2>&1 || true
	"$@"
	b0=$(busy) s0=$(ticks "$server")
	timed_out="$work/$name.json" timed_err="$work/$name.err" timed "$work/settle" bench create --url "http://127.0.0.1:$port" --key "$k" --concurrency "$conc" --duration "${secs}s" --json
	b1=$(busy) s1=$(ticks "$server")
	stop
	rate=$(rate_of "$work/$name.json" "$work/$name.err")
	n=$(sed -n 's/.*"succeeded":\([0-9]*\).*/\1/p' "$work/$name.json")
	cpu="$(ms_per "$n" $((b1 - b0))) $(ms_per "$n" $((s1 - s0))) $(ms_per "$n" "$(ticks_of)")"
}

# rate_of JSON ERRLOG prints created/s of a bench result, failing loudly if
# the run had errors or no result.
rate_of() {
	local r e
	r=$(jfield "$1" created_per_second)
	e=$(jfield "$1" errors)
	if [ -z "$r" ] || [ "${e:-0}" != 0 ]; then
		echo "run.sh: a run failed (errors ${e:-?}); its output and log:" >&2
		cat "$1" "$2" >&2 2>/dev/null || true
		exit 1
	fi
	echo "$r"
}

# stats prints "min median max" of the numbers on stdin.
stats() {
	sort -g | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f %.1f %.1f\n", v[1], m, v[NR] }'
}

# spread UNIT FILE SCALE LABEL1 COL1 LABEL2 COL2 prints min, median and max
# of two columns of FILE (each divided by SCALE) under the heading UNIT, and
# leaves their medians in $med1 and $med2.
spread() {
	local unit=$1 f=$2 scale=$3 l1=$4 c1=$5 l2=$6 c2=$7 lo hi
	printf '   %-22s %10s %10s %10s\n' "$unit" min median max
	read -r lo med1 hi < <(awk -v c="$c1" -v s="$scale" '{ print $c / s }' "$f" | stats)
	printf '   %-22s %10.1f %10.1f %10.1f\n' "$l1" "$lo" "$med1" "$hi"
	read -r lo med2 hi < <(awk -v c="$c2" -v s="$scale" '{ print $c / s }' "$f" | stats)
	printf '   %-22s %10.1f %10.1f %10.1f\n' "$l2" "$lo" "$med2" "$hi"
}

# report TITLE LABEL REF_LABEL FILE: LABEL names the settle side; FILE has one line per pair,
# "load1 settle ref". Prints the table and the summary.
report() {
	local title=$1 sl=$2 rl=$3 f=$4
	echo
	echo "== $title"
	echo "   concurrency $conc, ${secs} s per run (after ${warm} s warm-up and a checkpoint), $pairs pairs, settle first in each pair"
	awk -v sl="$sl" -v rl="$rl" 'BEGIN { printf "   %-5s %-8s %14s %14s %9s\n", "pair", "load1", sl " /s", rl " /s", "ratio" }
		{ printf "   %-5d %-8s %14.1f %14.1f %8.0f %%\n", NR, $1, $2, $3, 100 * $2 / $3 }' "$f"
	spread created/s "$f" 1 "$sl" 2 "$rl" 3
	awk -v s="$med1" -v r="$med2" -v g="$goal" -v lo="$(awk '{ x = 100 * $2 / $3; if (NR == 1 || x < m) m = x } END { printf "%.0f", m }' "$f")" \
		-v hi="$(awk '{ x = 100 * $2 / $3; if (NR == 1 || x > m) m = x } END { printf "%.0f", m }' "$f")" \
		'BEGIN { p = 100 * s / r; printf "   ratio of medians: %.0f %% (pairs %s–%s %%); goal: at least %d %%: %s\n", p, lo, hi, g, (p >= g ? "met" : "NOT met") }'
}

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit (dirty)"; fi
echo "== settle creation benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "   machine:  $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr)"
echo "   commit:   $commit"
echo "   go:       $(go version | sed 's/^go version //')"
echo "   postgres: $("$PSQL" "$pg/postgres" -Atc 'SHOW server_version'); $("$PGBENCH" --version)"
echo "   load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$root" && go build -o "$work/settle" ./cmd/settle)

if [ -z "$only" ] || [ "$only" = A ]; then
	# A. Postgres: a fresh database, migrated, with a merchant.
	"$PSQL" "$pg/postgres" -qc "CREATE DATABASE $db"
	db_created=1
	SETTLE_DATABASE_URL=$pgurl "$work/settle" migrate 2>/dev/null
	created=$(SETTLE_DATABASE_URL=$pgurl "$work/settle" merchants create --name "Bench Postgres")
	pkey=$(echo "$created" | key)
	mid=$(echo "$created" | merchant)
	threads=$(( conc < $(nproc) ? conc : $(nproc) ))
	pgb() { "$PGBENCH" -n -c "$conc" -j "$threads" -T "$1" -D "merchant='$mid'" -f "$here/pgbench-create-invoice.sql" "$pgurl"; }
	: >"$work/A.pairs"
	: >"$work/A.cpu"
	for i in $(seq "$pairs"); do
		l=$(load1)
		pgreset
		settle_run "pg$i" "$pgurl" "$pkey" pgcheckpoint
		s=$rate
		scpu=$cpu
		pgreset
		pgb "$warm" >/dev/null 2>&1 || true
		pgcheckpoint
		b0=$(busy)
		timed_out="$work/pgbench$i.txt" timed_err="$work/pgbench$i.txt" timed pgb "$secs"
		b1=$(busy)
		r=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench$i.txt")
		fails=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench$i.txt")
		if [ -z "$r" ] || [ "${fails:-0}" != 0 ]; then cat "$work/pgbench$i.txt" >&2; exit 1; fi
		n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/pgbench$i.txt")
		echo "$l $s $r" >>"$work/A.pairs"
		echo "$scpu $(ms_per "$n" $((b1 - b0))) 0 $(ms_per "$n" "$(ticks_of)")" >>"$work/A.cpu"
		echo "   A pair $i: load1 $l, settle $s/s, pgbench $r/s" >&2
	done
fi

if [ -z "$only" ] || [ "$only" = B ]; then
	# B. SQLite: a fresh file, as `settle serve` would create it.
	surl="sqlite://$work/settle.db"
	skey=$(SETTLE_DATABASE_URL=$surl "$work/settle" merchants create --name "Bench SQLite" | key)
	: >"$work/B.pairs"
	: >"$work/B.cpu"
	for i in $(seq "$pairs"); do
		l=$(load1)
		sqreset
		settle_run "sq$i" "$surl" "$skey" sqcheckpoint
		s=$rate scpu=$cpu
		sqreset
		"$work/settle" bench sqlite-raw --database "$surl" --concurrency "$conc" --duration "${warm}s" >/dev/null 2>&1 || true
		sqcheckpoint
		b0=$(busy)
		timed_out="$work/raw$i.json" timed_err="$work/raw$i.err" timed "$work/settle" bench sqlite-raw --database "$surl" --concurrency "$conc" --duration "${secs}s" --json
		b1=$(busy)
		r=$(rate_of "$work/raw$i.json" "$work/raw$i.err")
		n=$(sed -n 's/.*"succeeded":\([0-9]*\).*/\1/p' "$work/raw$i.json")
		echo "$l $s $r" >>"$work/B.pairs"
		# The raw bench is client and database in one process.
		echo "$scpu $(ms_per "$n" $((b1 - b0))) $(ms_per "$n" "$(ticks_of)") 0" >>"$work/B.cpu"
		echo "   B pair $i: load1 $l, settle $s/s, raw $r/s" >&2
	done
fi

# cpu_report FILE REF: the medians of the CPU per invoice, from lines
# "settle-machine settle-server settle-client ref-machine ref-process
# ref-client" (ms; "machine" is every core's busy time, so it holds the
# database's and whatever else ran).
cpu_report() {
	local f=$1 ref=$2 m
	m() { awk -v c="$1" '{ print $c }' "$f" | sort -g | awk '{ v[NR] = $1 } END { printf "%.4f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
	local sm ss sc rm rp rc
	sm=$(m 1) ss=$(m 2) sc=$(m 3) rm=$(m 4) rp=$(m 5) rc=$(m 6)
	if [ "$ref" = pgbench ]; then
		echo "   CPU per invoice, medians (ms; the machine's is all cores' busy time, so the database's is the rest):"
		awk -v m="$sm" -v s="$ss" -v c="$sc" 'BEGIN { printf "     settle API:  machine %.3f = server %.3f + load generator %.3f + database and the rest %.3f\n", m, s, c, m - s - c }'
		awk -v m="$rm" -v c="$rc" 'BEGIN { printf "     pgbench:     machine %.3f = pgbench %.3f + database and the rest %.3f\n", m, c, m - c }'
	else
		echo "   CPU per invoice, medians (ms; SQLite runs inside the server, and inside the raw bench):"
		awk -v s="$ss" -v c="$sc" 'BEGIN { printf "     settle API:  server with SQLite %.3f + load generator %.3f = %.3f\n", s, c, s + c }'
		awk -v p="$rp" 'BEGIN { printf "     raw SQLite:  the raw bench, load and SQLite in one process %.3f\n", p }'
	fi
}

if [ -z "$only" ] || [ "$only" = A ]; then
	report "A. Postgres: settle API vs pgbench, the API's statements (pgbench-create-invoice.sql)" "settle API" "pgbench" "$work/A.pairs"
	cpu_report "$work/A.cpu" pgbench
fi
if [ -z "$only" ] || [ "$only" = B ]; then
	report "B. SQLite: settle API vs settle bench sqlite-raw, the same statements and driver" "settle API" "raw SQLite" "$work/B.pairs"
	cpu_report "$work/B.cpu" raw
fi
if [ -z "$only" ] || [ "$only" = C ]; then
	# C. Webhooks on Postgres, each run on a fresh database.
	whdb=${db}_wh
	whurl="$pg/$whdb?sslmode=disable"
	# wh NAME ARGS…: one `settle bench webhooks` run on a fresh database; the
	# JSON is kept in NAME.json, the claim's plan (with --explain) in NAME.plan.
	wh() {
		local name=$1
		shift
		"$PSQL" "$pg/postgres" -qc "DROP DATABASE IF EXISTS $whdb" >/dev/null 2>&1
		"$PSQL" "$pg/postgres" -qc "CREATE DATABASE $whdb"
		"$work/settle" bench webhooks --database-url "$whurl" --endpoints 10 --spread --concurrency 32 --per-endpoint 4 \
			--json "$@" >"$work/$name.json" 2>"$work/$name.plan" || { cat "$work/$name.json" "$work/$name.plan" >&2; exit 1; }
	}
	# plan_hits FILE prints the shared buffers the claim's plan hit and read.
	plan_hits() { sed -n 's/^  Buffers: shared hit=\([0-9]*\)\( read=\([0-9]*\)\)\{0,1\}.*/\1 \3/p' "$1" | head -1 | awk '{ print $1 + $2 }'; }
	: >"$work/C1.runs"
	: >"$work/C2.pairs"
	: >"$work/C3.pairs"
	for i in $(seq "$pairs"); do
		l=$(load1)
		wh "c1_$i" --rate "$wh_rate" --duration "${secs}s"
		f="$work/c1_$i.json"
		echo "$l $(jfield "$f" events_per_second) $(jfield "$f" delivered_per_second) $(jfield "$f" keep_up) $(jfield "$f" p99)" >>"$work/C1.runs"
		echo "   C1 run $i: load1 $l, written $(jfield "$f" events_per_second)/s, delivered $(jfield "$f" delivered_per_second)/s" >&2
	done
	for i in $(seq "$pairs"); do
		l=$(load1)
		wh "c2a_$i" --rate "$wh_hang_rate" --duration "${secs}s"
		wh "c2b_$i" --rate "$wh_hang_rate" --duration "${secs}s" --hanging 1
		a=$(jfield "$work/c2a_$i.json" p99)
		b=$(jfield "$work/c2b_$i.json" p99)
		echo "$l $a $b $(jfield "$work/c2b_$i.json" hanging_in_flight)" >>"$work/C2.pairs"
		echo "   C2 pair $i: load1 $l, healthy p99 ${a} µs with none hanging, ${b} µs with one hanging" >&2
	done
	for i in $(seq "$pairs"); do
		l=$(load1)
		wh "c3a_$i" --rate 100 --duration 2s --backlog 10000 --explain --drain 600s
		wh "c3b_$i" --rate 100 --duration 2s --backlog 100000 --explain --drain 600s
		a=$(jfield "$work/c3a_$i.json" backlog_per_second)
		b=$(jfield "$work/c3b_$i.json" backlog_per_second)
		echo "$l $a $b $(plan_hits "$work/c3a_$i.plan") $(plan_hits "$work/c3b_$i.plan")" >>"$work/C3.pairs"
		echo "   C3 pair $i: load1 $l, drained 10,000 at $a/s, 100,000 at $b/s" >&2
	done
	echo
	echo "== C. Webhooks on Postgres: 10 endpoints, one delivery per event, 32 workers (4 per endpoint)"
	echo "   C1. delivered/s against events written/s in the same run (--rate $wh_rate, ${secs} s), $pairs runs"
	awk 'BEGIN { printf "   %-5s %-8s %12s %14s %9s %12s\n", "run", "load1", "written /s", "delivered /s", "ratio", "p99 ms" }
		{ printf "   %-5d %-8s %12.1f %14.1f %9.3f %12.1f\n", NR, $1, $2, $3, $3 / $2, $5 / 1000 }' "$work/C1.runs"
	spread "per second" "$work/C1.runs" 1 written 2 delivered 3
	awk -v d="$med2" -v w="$med1" 'BEGIN { r = d / w; printf "   ratio of medians: %.3f; goal: delivered/s at least written/s (at least 0.99: each rate is measured over its own span, first to last, so an engine that keeps up reads 1 within the jitter of its first and last latencies): %s\n", r, (r >= 0.99 ? "met" : "NOT met") }'
	echo "   C2. healthy endpoints' p99 (ms), nine healthy beside one that never answers, paired with ten healthy (--rate $wh_hang_rate, ${secs} s)"
	awk 'BEGIN { printf "   %-5s %-8s %14s %14s %9s %10s\n", "pair", "load1", "none hanging", "one hanging", "ratio", "in flight" }
		{ printf "   %-5d %-8s %14.1f %14.1f %9.2f %10d\n", NR, $1, $2 / 1000, $3 / 1000, $3 / $2, $4 }' "$work/C2.pairs"
	spread "p99 ms" "$work/C2.pairs" 1000 "none hanging" 2 "one hanging" 3
	awk -v a="$med1" -v b="$med2" 'BEGIN { r = b / a; printf "   ratio of medians: %.2f; goal: unchanged (at most 1.25, the runs'"'"' own spread here): %s\n", r, (r <= 1.25 ? "met" : "NOT met") }'
	echo "   C3. drain of a backlog queued before the engine starts: 10,000 against 100,000 deliveries"
	awk 'BEGIN { printf "   %-5s %-8s %14s %14s %9s %18s\n", "pair", "load1", "10,000 /s", "100,000 /s", "ratio", "claim buffers" }
		{ printf "   %-5d %-8s %14.1f %14.1f %9.2f %9d %8d\n", NR, $1, $2, $3, $3 / $2, $4, $5 }' "$work/C3.pairs"
	spread drained/s "$work/C3.pairs" 1 "10,000 queued" 2 "100,000 queued" 3
	awk -v a="$med1" -v b="$med2" 'BEGIN { r = b / a; printf "   ratio of medians: %.2f; goal: the same per-delivery cost at any backlog (at least 0.9): %s\n", r, (r >= 0.9 ? "met" : "NOT met") }'
	echo "   (claim buffers: shared buffers hit or read by one claim of 32 at each size, from EXPLAIN (ANALYZE, BUFFERS))"
fi

if [ -z "$only" ] || [ "$only" = D ]; then
	# D. Payment detection, each run on a fresh database.
	detdb=${db}_detect
	echo
	echo "== D. Payment detection: settle bench detect --payments 200, $pairs runs per database"
	printf '   %-9s %-5s %-8s %10s %10s %10s %12s %10s\n' database run load1 "webhook p50" p99 max "WebSocket p50" p99
	for dbname in sqlite postgres; do
		: >"$work/D.$dbname"
		for i in $(seq "$pairs"); do
			l=$(load1)
			args=()
			if [ "$dbname" = postgres ]; then
				"$PSQL" "$pg/postgres" -qc "DROP DATABASE IF EXISTS $detdb" >/dev/null 2>&1
				"$PSQL" "$pg/postgres" -qc "CREATE DATABASE $detdb"
				args=(--database-url "$pg/$detdb?sslmode=disable")
			fi
			"$work/settle" bench detect --payments 200 --json "${args[@]}" >"$work/d_${dbname}_$i.json" 2>"$work/d_${dbname}_$i.err" ||
				{ cat "$work/d_${dbname}_$i.json" "$work/d_${dbname}_$i.err" >&2; exit 1; }
			f="$work/d_${dbname}_$i.json"
			# jsub OBJECT KEY: a number inside one of the JSON's objects (µs).
			jsub() { sed -n "s/.*\"$1\":{[^}]*\"$2\":\([0-9.]*\).*/\1/p" "$f"; }
			wp50=$(jsub webhook_us p50) wp99=$(jsub webhook_us p99) wmax=$(jsub webhook_us max)
			sp50=$(jsub websocket_us p50) sp99=$(jsub websocket_us p99)
			printf '   %-9s %-5d %-8s %8.1f ms %7.1f ms %7.1f ms %10.1f ms %7.1f ms\n' "$dbname" "$i" "$l" \
				"$(awk -v v="$wp50" 'BEGIN { print v / 1000 }')" "$(awk -v v="$wp99" 'BEGIN { print v / 1000 }')" \
				"$(awk -v v="$wmax" 'BEGIN { print v / 1000 }')" "$(awk -v v="$sp50" 'BEGIN { print v / 1000 }')" \
				"$(awk -v v="$sp99" 'BEGIN { print v / 1000 }')"
			echo "$wp99 $sp99" >>"$work/D.$dbname"
		done
	done
	worst=$(cat "$work/D.sqlite" "$work/D.postgres" | tr ' ' '\n' | sort -g | tail -1)
	awk -v w="$worst" 'BEGIN { printf "   worst p99: %.1f ms; goal: under 100 ms: %s\n", w / 1000, (w < 100000 ? "met" : "NOT met") }'
fi

if [ -z "$only" ] || [ "$only" = E ]; then
	# E. Matching: the ledger benchmark, on SQLite and on a fresh Postgres.
	matchdb=${db}_match
	"$PSQL" "$pg/postgres" -qc "CREATE DATABASE $matchdb"
	echo
	echo "== E. Matching: go test ./chains -run '^\$' -bench Match -benchtime 2000x (SQLite and Postgres${BENCH_LARGE:+, with a million open invoices})"
	(cd "$root" && SETTLE_BENCH_POSTGRES=1 SETTLE_TEST_POSTGRES_URL="$pg/$matchdb?sslmode=disable" SETTLE_BENCH_LARGE=${BENCH_LARGE:-} \
		go test ./chains -run '^$' -bench Match -benchtime 2000x) >"$work/E.txt" 2>&1 || { cat "$work/E.txt" >&2; exit 1; }
	printf '   %-9s %-14s %-10s %14s\n' database "open invoices" transfer "transfers/s"
	sed -n 's|^BenchmarkMatch/\([a-z]*\)/open=\([0-9]*\)/\([a-z]*\)-[0-9]* .* \([0-9.]*\) transfers/s.*|\1 \2 \3 \4|p' "$work/E.txt" |
		awk '{ printf "   %-9s %-14s %-10s %14.0f\n", $1, $2, $3, $4 }'
fi

if [ -z "$only" ] || [ "$only" = F ]; then
	# F. Merchant WebSockets on SQLite, each run paired with the raw reference.
	echo
	echo "== F. Merchant WebSockets: settle bench ws --connections 10000 --rate 5 --duration 10s, $pairs pairs with --server raw"
	printf '   %-5s %-7s %-8s %6s %9s %8s %9s %9s %9s %14s %16s\n' pair server load1 held messages missing p50 p99 max "server CPU/event" "server KiB/conn"
	: >"$work/F.runs"
	for i in $(seq "$pairs"); do
		for server in settle raw; do
			l=$(load1)
			f="$work/ws-$server$i.json"
			"$work/settle" bench ws --server "$server" --connections 10000 --rate 5 --duration 10s --json >"$f" 2>"$work/ws-$server$i.err" ||
				{ cat "$f" "$work/ws-$server$i.err" >&2; exit 1; }
			jsub() { sed -n "s/.*\"$1\":{[^}]*\"$2\":\([0-9.]*\).*/\1/p" "$f"; }
			p50=$(jsub latency_us p50) p99=$(jsub latency_us p99) mx=$(jsub latency_us max)
			printf '   %-5d %-7s %-8s %6s %9s %8s %6.1f ms %6.1f ms %6.1f ms %11s ms %16s\n' "$i" "$server" "$l" "$(jfield "$f" held)" \
				"$(jfield "$f" received_messages)" "$(( $(jfield "$f" missing) + $(jfield "$f" duplicates) ))" \
				"$(awk -v v="$p50" 'BEGIN { print v / 1000 }')" "$(awk -v v="$p99" 'BEGIN { print v / 1000 }')" \
				"$(awk -v v="$mx" 'BEGIN { print v / 1000 }')" "$(jfield "$f" server_cpu_ms_per_event)" \
				"$(jfield "$f" server_kib_per_connection)"
			echo "$server $p99 $(jfield "$f" missing) $(jfield "$f" duplicates) $(jfield "$f" server_cpu_ms_per_event)" >>"$work/F.runs"
		done
	done
	read -r pmin pmed pmax < <(awk '$1 == "settle" { print $2 / 1000 }' "$work/F.runs" | stats)
	read -r rmin rmed rmax < <(awk '$1 == "raw" { print $2 / 1000 }' "$work/F.runs" | stats)
	read -r _ cmed _ < <(awk '$1 == "settle" { print $5 }' "$work/F.runs" | stats)
	read -r _ rcmed _ < <(awk '$1 == "raw" { print $5 }' "$work/F.runs" | stats)
	bad=$(awk '{ s += $3 + $4 } END { print s + 0 }' "$work/F.runs")
	awk -v m="$pmed" -v lo="$pmin" -v hi="$pmax" -v bad="$bad" 'BEGIN { printf "   settle p99 median %.1f ms (runs %.1f–%.1f ms), missing or duplicated %d; goal: p99 under 100 ms, nothing missing: %s\n", m, lo, hi, bad, (m < 100 && bad == 0 ? "met" : "NOT met") }'
	awk -v m="$rmed" -v lo="$rmin" -v hi="$rmax" -v s="$pmed" -v c="$cmed" -v rc="$rcmed" 'BEGIN { printf "   reference p99 median %.1f ms (runs %.1f–%.1f ms): settle at %.2f× the floor; CPU per event %s ms against %s ms\n", m, lo, hi, s / m, c, rc }'
fi

if [ -z "$only" ] || [ "$only" = G ]; then
	echo
	echo "== G. Idle footprint: cmd/settle/testdata/footprint/run.sh"
	PGHOST_URL=$pg bash "$root/cmd/settle/testdata/footprint/run.sh" | sed 's/^/   /'
fi

echo
echo "== load average at end: $(cut -d' ' -f1-3 /proc/loadavg); total time $(( $(date +%s) - t_start )) s"
