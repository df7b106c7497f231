#!/usr/bin/env bash
# Backs up a running settle and restores the backup into a second one, on
# SQLite (sqlite3 .backup) and on Postgres (pg_dump -Fc / pg_restore), and
# checks that the restored server serves the same invoices with the same
# API key. Run from the repository: bash cmd/settle/deploy/backup-restore.sh
# Needs sqlite3, pg_dump, pg_restore, psql, curl and python3; Postgres at
# PGURL (default postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/../../.."
pg="${PGURL:-postgres://postgres@127.0.0.1:5432}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  psql "$pg/postgres?sslmode=disable" -qc "DROP DATABASE IF EXISTS settle_bk_a WITH (FORCE)" >/dev/null 2>&1 || true
  psql "$pg/postgres?sslmode=disable" -qc "DROP DATABASE IF EXISTS settle_bk_b WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/settle" ./cmd/settle

serve() { # database-url port
  SETTLE_ADDR="127.0.0.1:$2" "$work/settle" serve --database-url "$1" >>"$work/serve.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "localhost:$2/healthz" >/dev/null && return; sleep 0.1; done
  echo "settle on $2 did not start"; cat "$work/serve.log"; exit 1
}
invoices() { # port key
  curl -sf "localhost:$1/api/v1/invoices?limit=100" -H "Authorization: Bearer $2" |
    python3 -c 'import json,sys; print(sorted((i["id"], i["status"], i["amount"]) for i in json.load(sys.stdin)["data"]))'
}
check() { # name url-a port-a backup-command url-b port-b
  local name=$1 a=$2 pa=$3 backup=$4 b=$5 pb=$6
  serve "$a" "$pa"
  key=$("$work/settle" merchants create --database-url "$a" --name "Backup $name" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["test_api_key"])')
  for amount in 12.50 7.25 100.00; do
    curl -sf "localhost:$pa/api/v1/invoices" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      -d "{\"amount\":\"$amount\",\"currency\":\"USD\"}" >/dev/null
  done
  before=$(invoices "$pa" "$key")
  eval "$backup" # while the first server runs
  serve "$b" "$pb"
  after=$(invoices "$pb" "$key")
  if [ "$before" != "$after" ]; then
    echo "$name: restored invoices differ"; echo "before: $before"; echo "after:  $after"; exit 1
  fi
  echo "$name: backup taken while serving, restored, same 3 invoices and key: ok"
}

check sqlite "sqlite://$work/a.db" 18401 \
  "sqlite3 '$work/a.db' \".backup '$work/b.db'\"" "sqlite://$work/b.db" 18402

psql "$pg/postgres?sslmode=disable" -qc "CREATE DATABASE settle_bk_a" >/dev/null
psql "$pg/postgres?sslmode=disable" -qc "CREATE DATABASE settle_bk_b" >/dev/null
check postgres "$pg/settle_bk_a?sslmode=disable" 18403 \
  "pg_dump -Fc -f '$work/a.dump' '$pg/settle_bk_a?sslmode=disable' && pg_restore --no-owner -d '$pg/settle_bk_b?sslmode=disable' '$work/a.dump'" \
  "$pg/settle_bk_b?sslmode=disable" 18404
