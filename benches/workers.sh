#!/usr/bin/env bash
# The server store measured (a benchmark, not a test): on one private
# PostgreSQL (tests/pg/pg.sh), how many messages per second 1, 2 and 4
# worker processes take in together, with each one's peak RSS; and the
# arrival-to-acknowledgement latency of a running worker on PostgreSQL
# beside the embedded store. Prints the figures; README quotes them.
#
#   bash benches/workers.sh [MESSAGES]     (default 4000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-4000}
PROBES=${PROBES:-100}
export PG_ROOT=${PG_ROOT:-/tmp/ticketbox-pg}
pg=tests/pg/pg.sh
[ "$(id -u)" = 0 ] && bash "$pg" install
pg_started=no
if ! bash "$pg" status | grep -q "postgres running"; then bash "$pg" up >/dev/null; pg_started=yes; fi
work=$(mktemp -d)
trap '[ "$pg_started" = yes ] && bash "$pg" down; rm -rf "$work"' EXIT
cargo build --release --bin ticketbox --example gen_maildir --example ack_latency 2>&1 | tail -1
bin=target/release/ticketbox
psql_admin() { PGPASSWORD=ticketbox psql -q -h 127.0.0.1 -p 15432 -U ticketbox -d ticketbox "$@"; }
fresh_db() { psql_admin -c "DROP DATABASE IF EXISTS bench WITH (FORCE)" -c "CREATE DATABASE bench"; }
export TB_BENCH_PW=ticketbox
server_cfg() { # $1: file
  printf '[store]\nurl = "postgres://ticketbox@127.0.0.1:15432/bench?sslmode=disable"\npassword_env = "TB_BENCH_PW"\n' >"$1"
}
target/release/examples/gen_maildir "$work/all" "$N" >/dev/null
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); PostgreSQL $(psql --version | awk '{print $3}') on the same machine; $N messages ($(du -sh "$work/all" | cut -f1))"

# Throughput: k processes each ingest their share (file i goes to process
# i mod k), all at once, into one fresh database.
for k in 1 2 4; do
  fresh_db
  for w in $(seq 0 $((k - 1))); do mkdir -p "$work/k$k/$w"; done
  i=0
  for f in "$work"/all/new/*; do
    cp "$f" "$work/k$k/$((i % k))/"; i=$((i + 1))
  done
  server_cfg "$work/k$k/cfg.toml"
  start=$(date +%s.%N)
  for w in $(seq 0 $((k - 1))); do
    /usr/bin/time -f "%M %e" -o "$work/k$k/time$w" \
      "$bin" --config "$work/k$k/cfg.toml" --data "$work/k$k/data$w" ingest --no-deliver "$work/k$k/$w" >/dev/null 2>"$work/k$k/err$w" &
  done
  wait
  end=$(date +%s.%N)
  rss=$(for w in $(seq 0 $((k - 1))); do awk '{printf "%.0f MB ", $1/1024}' "$work/k$k/time$w"; done)
  tickets=$(psql_admin -d bench -tAc "SELECT count(*) FROM tickets")
  awk -v n="$N" -v s="$start" -v e="$end" -v k="$k" -v r="$rss" -v t="$tickets" \
    'BEGIN { printf "%d worker(s) on PostgreSQL: %d messages in %.1f s = %.0f messages/s, %d tickets; peak RSS per worker: %s\n", k, n, e - s, n / (e - s), t, r }'
done

# The embedded store, one process, for comparison.
start=$(date +%s.%N)
/usr/bin/time -f "%M %e" -o "$work/sled.time" "$bin" --data "$work/sled" ingest --no-deliver "$work/all" >/dev/null 2>&1
end=$(date +%s.%N)
awk -v n="$N" -v s="$start" -v e="$end" -v r="$(awk '{printf "%.0f MB", $1/1024}' "$work/sled.time")" \
  'BEGIN { printf "1 worker on the embedded store: %d messages in %.1f s = %.0f messages/s; peak RSS %s\n", n, e - s, n / (e - s), r }'

# Latency: a running worker, one request at a time, until its
# acknowledgement file is written.
latency() { # $1: label, $2: extra config
  local d="$work/lat-$1"
  mkdir -p "$d/Maildir/new" "$d/Maildir/cur" "$d/Maildir/tmp" "$d/outbox"
  printf '%s\n[intake]\nmaildir = "%s"\n[outbox]\ndir = "%s"\n' "$2" "$d/Maildir" "$d/outbox" >"$d/cfg.toml"
  "$bin" --config "$d/cfg.toml" --data "$d/data" run >/dev/null 2>"$d/log" &
  local pid=$!
  sleep 2
  printf '%s: ' "$1"
  target/release/examples/ack_latency "$d/Maildir" "$d/outbox" "$PROBES"
  kill -TERM $pid; wait $pid || true
}
fresh_db
latency "embedded store" ""
latency "PostgreSQL" "$(printf '[store]\nurl = "postgres://ticketbox@127.0.0.1:15432/bench?sslmode=disable"\npassword_env = "TB_BENCH_PW"')"
