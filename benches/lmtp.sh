#!/usr/bin/env bash
# Mail handed over by the MTA, measured (a benchmark, not a test): the
# test mail stack's Postfix routes support@p24399.lmtp.test over LMTP to a
# `ticketbox run` listening on 127.0.0.1:24399, which acknowledges through
# the same Postfix into the customers' Maildirs (Dovecot).
#
# 1. Latency: PROBES customers write one at a time; each is timed from
#    its SMTP session to the acknowledgement file in its Maildir.
# 2. Burst: BURST messages over 8 SMTP connections; how fast Postfix took
#    them, the worker stored them and sent every acknowledgement; the
#    worker's peak RSS; then BURST straight to the LMTP port (no Postfix):
#    what the listener itself takes.
# 3. Kill: KILL_BURST more, the worker killed with SIGKILL a third of the
#    way in and started again; Postfix delivers again what got no 250.
#    Then every message sent must be exactly one ticket.
#
#   bash benches/lmtp.sh [BURST] [PROBES]      (defaults 10000, 200; KILL_BURST=3000)
set -euo pipefail
cd "$(dirname "$0")/.."
BURST=${1:-10000}
PROBES=${2:-200}
KILL_BURST=${KILL_BURST:-3000}
export MAILSTACK_ROOT=${MAILSTACK_ROOT:-/tmp/ticketbox-mailstack}
ms=tests/mailstack/mailstack.sh
[ "$(id -u)" = 0 ] && bash "$ms" install
bash "$ms" up
cargo build --release --bin ticketbox --example lmtp_bench 2>&1 | tail -1
bin=$PWD/target/release/ticketbox
bench=$PWD/target/release/examples/lmtp_bench
work=$(mktemp -d)
port=24399
support="support@p$port.lmtp.test"
mkdir -p "$work/Maildir/new" "$work/Maildir/cur" "$work/Maildir/tmp"
cat >"$work/ticketbox.toml" <<TOML
data_dir = "$work/data"
rules_dir = "$PWD/rules"
templates_dir = "$PWD/templates"

[support]
address = "$support"
name = "Bench Support"

[ack]
# Every customer here writes from example.test, as real ones share gmail.com.
shared_domains = ["example.test"]

[intake]
maildir = "$work/Maildir"

[outbox]
transport = "smtp"
retry_base_seconds = 1

[smtp]
host = "127.0.0.1"
port = 2525
tls = "starttls"
ca_file = "$MAILSTACK_ROOT/tls/cert.pem"

[lmtp]
listen = "127.0.0.1:$port"
TOML
log="$work/worker.log"
wpid=
start_worker() {
  RUST_LOG=info "$bin" --config "$work/ticketbox.toml" run 2>>"$log" >/dev/null &
  wpid=$!
  for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return 0; sleep 0.05; done
  echo "the worker does not listen; see $log" >&2; tail -5 "$log" >&2; exit 1
}
cleanup() { [ -n "$wpid" ] && kill -TERM "$wpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
flush() { postqueue -c "$MAILSTACK_ROOT/postfix" -f 2>/dev/null || true; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); Postfix $(postconf -d mail_version 2>/dev/null | awk '{print $3}'), Dovecot $(dovecot --version | awk '{print $1}') on the same machine; embedded store on $(df -T "$work" | awk 'NR==2 {print $2}')"
start_worker
"$bench" latency "$PROBES" "$support" "$MAILSTACK_ROOT"
"$bench" burst "$BURST" "$support" "$log"
"$bench" direct "$BURST" "127.0.0.1:$port" "$support"
echo "worker peak RSS: $(awk '/VmHWM/ {printf "%.0f MB", $2/1024}' /proc/$wpid/status)"

# The kill: a burst in the background, SIGKILL a third of the way in.
before=$(grep -c ": processed " "$log" || true)
"$bench" burst "$KILL_BURST" "$support" "$log" killtest >"$work/kill.out" &
burst_pid=$!
while [ $(( $(grep -c ": processed " "$log" || true) - before )) -lt $((KILL_BURST / 3)) ]; do sleep 0.05; done
kill -KILL "$wpid"; wait "$wpid" 2>/dev/null || true
echo "killed the worker (SIGKILL) after $(( $(grep -c ": processed " "$log") - before )) of $KILL_BURST burst messages were stored"
start_worker
while kill -0 "$burst_pid" 2>/dev/null; do flush; sleep 2; done
wait "$burst_pid"
sed 's/^/  after the kill: /' "$work/kill.out"
expected=$((PROBES + 2 * BURST + KILL_BURST))
"$bin" --config "$work/ticketbox.toml" tickets --json | python3 -c "
import json, sys
t = json.load(sys.stdin)
subjects = [x['subject'] for x in t]
print(f'tickets: {len(t)} for {$expected} messages sent, {len(set(subjects))} distinct subjects')
sys.exit(0 if len(t) == $expected and len(set(subjects)) == $expected else 1)
"
