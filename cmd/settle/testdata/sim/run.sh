#!/usr/bin/env bash
# run.sh runs the money simulation (TestMoneySimulation) long, on SQLite and
# on Postgres at once, and prints what the README reports of it: the seeds,
# the steps, how long they took, and the machine, date and load average.
#
#   cmd/settle/testdata/sim/run.sh [SEEDS [STEPS]]    default: 1-20 and 1000 (20,000 steps per database)
#
# Environment (optional):
#   PGHOST_URL  Postgres server, default postgres://postgres@127.0.0.1:5432;
#               a database of its own is created and dropped
#   LOG         where the test's output goes, default a temporary file
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
seeds=${1:-1-20}
steps=${2:-1000}
pg=${PGHOST_URL:-postgres://postgres@127.0.0.1:5432}
PSQL=${PSQL:-$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)}
log=${LOG:-$(mktemp)}
db=settle_sim_$(date +%s)_$$

"$PSQL" "$pg/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $db"
trap '"$PSQL" "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$root" rev-parse --short HEAD)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) before"
echo "run:     seeds $seeds, $steps steps each, per database; log in $log"
start=$(date +%s)
status=0
(cd "$root" && SETTLE_TEST_POSTGRES_URL="$pg/$db?sslmode=disable" SETTLE_SIM_SEEDS="$seeds" SETTLE_SIM_STEPS="$steps" \
	go test ./cmd/settle -run '^TestMoneySimulation$' -count=1 -v -timeout 24h) >"$log" 2>&1 || status=$?
end=$(date +%s)
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) after"
for dialect in sqlite postgres; do
	# Each seed's line follows the === RUN, CONT or NAME line of its subtest.
	awk -v d="TestMoneySimulation/$dialect" '
		/seed [0-9]+: [0-9]+ steps in / && index(cur, d "/") == 1 { n++; steps += $4; sub(/s:$/, "", $7); secs += $7 }
		/^=== (RUN|CONT|NAME) / { cur = $3 }
		END { if (n) printf "%-9s %d seeds, %d steps in %.0f s (%.1f steps/s)\n", substr(d, 21) ":", n, steps, secs, steps / secs }
	' "$log"
done
echo "wall:    $((end - start)) s"
grep -E -- '^(--- FAIL|FAIL|ok)|replay with' "$log" || true
exit $status
