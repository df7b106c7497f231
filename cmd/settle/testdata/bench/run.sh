#!/usr/bin/env bash
# run.sh reproduces settle's load figures on this machine, end to end:
#
#   1. builds the settle binary;
#   2. serves a fresh SQLite database and runs `settle bench create` on it;
#   3. creates a fresh Postgres database, runs `settle migrate` and
#      `settle merchants create`, serves it and runs `settle bench create`;
#   4. runs pgbench-create-invoice.sql (the same two inserts in one
#      transaction) against that Postgres database with pgbench;
#
# and prints the three rates side by side. Client, server and database share
# the machine, as they do in the figures of the README.
#
# Environment (all optional):
#   PGHOST_URL   Postgres server, default postgres://postgres@127.0.0.1:5432
#   CONCURRENCY  workers and pgbench clients, default 16
#   DURATION     seconds per measurement, default 20
#   KEEP_DB=1    keep the Postgres database afterwards
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
pg=${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}
conc=${CONCURRENCY:-16}
secs=${DURATION:-20}
PGBENCH=${PGBENCH:-$(command -v pgbench || echo /usr/lib/postgresql/15/bin/pgbench)}
PSQL=${PSQL:-$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)}

work=$(mktemp -d)
db=settle_bench_$(date +%s)_$$
pgurl="$pg/$db?sslmode=disable"
server=""

cleanup() {
	if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
	if [ "${KEEP_DB:-}" != 1 ]; then "$PSQL" "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

# free_port prints a TCP port nothing on 127.0.0.1 answers on.
free_port() {
	local p
	for p in $(seq 18400 18500); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	echo "no free port in 18400-18500" >&2; exit 1
}

# serve DATABASE_URL PORT LOG starts settle serve and waits for /readyz.
serve() {
	SETTLE_DATABASE_URL=$1 SETTLE_ADDR=127.0.0.1:$2 "$work/settle" serve 2>"$3" &
	server=$!
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return; fi
		sleep 0.1
	done
	echo "settle serve did not start; log:" >&2; cat "$3" >&2; exit 1
}

stop() { kill "$server"; wait "$server" || true; server=""; }

# key prints test_api_key of `settle merchants create`'s JSON; merchant its id.
key() { sed -n 's/.*"test_api_key":"\([^"]*\)".*/\1/p'; }
merchant() { sed -n 's/.*"merchant_id":"\([^"]*\)".*/\1/p'; }

# bench NAME URL KEY: a short warm-up, then the measured run (JSON kept).
bench() {
	"$work/settle" bench create --url "$2" --key "$3" --concurrency "$conc" --duration 2s >/dev/null || true
	echo "== settle bench create ($1): --concurrency $conc --duration ${secs}s"
	"$work/settle" bench create --url "$2" --key "$3" --concurrency "$conc" --duration "${secs}s" --json >"$work/$1.json" || true
	cat "$work/$1.json"
}

field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$work/$1.json"; }
latency() { sed -n "s/.*\"latency_us\":{[^}]*\"$2\":\([0-9]*\).*/\1/p" "$work/$1.json"; }

echo "== machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); $(go version); $("$PSQL" "$pg/postgres" -Atc 'SHOW server_version')"
(cd "$root" && go build -o "$work/settle" ./cmd/settle)

# SQLite: a fresh file, as `go run ./cmd/settle serve` would use.
sqliteurl="sqlite://$work/settle.db"
skey=$(SETTLE_DATABASE_URL=$sqliteurl "$work/settle" merchants create --name "Bench SQLite" | key)
port=$(free_port)
serve "$sqliteurl" "$port" "$work/serve-sqlite.log"
bench sqlite "http://127.0.0.1:$port" "$skey"
stop

# Postgres: a fresh database, migrated, with a merchant.
"$PSQL" "$pg/postgres" -qc "CREATE DATABASE $db"
SETTLE_DATABASE_URL=$pgurl "$work/settle" migrate 2>/dev/null
created=$(SETTLE_DATABASE_URL=$pgurl "$work/settle" merchants create --name "Bench Postgres")
pkey=$(echo "$created" | key)
mid=$(echo "$created" | merchant)
port=$(free_port)
serve "$pgurl" "$port" "$work/serve-postgres.log"
"$PSQL" "$pgurl" -qc CHECKPOINT
bench postgres "http://127.0.0.1:$port" "$pkey"
stop

# pgbench: the same inserts, straight into the same database.
"$PSQL" "$pgurl" -qc CHECKPOINT
echo "== pgbench -n -c $conc -j 2 -T $secs -f pgbench-create-invoice.sql"
"$PGBENCH" -n -c "$conc" -j 2 -T "$secs" -D "merchant='$mid'" -f "$here/pgbench-create-invoice.sql" "$pgurl" | tee "$work/pgbench.txt"
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.txt")
plat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$work/pgbench.txt")

echo
echo "== figures at concurrency $conc, ${secs}s each"
printf '%-24s %10s %10s %10s %8s\n' "" "created/s" "p50 ms" "p99 ms" "errors"
for n in sqlite postgres; do
	awk -v n="settle API, $n" -v r="$(field $n created_per_second)" -v p50="$(latency $n p50)" -v p99="$(latency $n p99)" \
		-v e="$(field $n errors)" 'BEGIN { printf "%-24s %10.1f %10.2f %10.2f %8d\n", n, r, p50 / 1000, p99 / 1000, e }'
done
awk -v r="$tps" -v a="$plat" 'BEGIN { printf "%-24s %10.1f %10s %10s %8s   (pgbench: average latency %s ms)\n", "pgbench, same inserts", r, "-", "-", "-", a }'
awk -v api="$(field postgres created_per_second)" -v pg="$tps" \
	'BEGIN { printf "settle API on Postgres = %.0f %% of pgbench (goal: at least 70 %%)\n", 100 * api / pg }'
