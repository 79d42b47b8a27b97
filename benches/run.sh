#!/usr/bin/env bash
# Runs the mail benchmarks against a loopback Postfix + Dovecot (started
# here when not running, stopped again afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
export MAILSTACK_ROOT=${MAILSTACK_ROOT:-/tmp/ticketbox-mailstack}
stack=tests/mailstack/mailstack.sh
bash "$stack" install
started=no
if ! bash "$stack" status | grep -q "dovecot running" || ! bash "$stack" status | grep -q "postfix running"; then
  bash "$stack" up
  started=yes
fi
trap '[ "$started" = yes ] && bash "$stack" down' EXIT
export TICKETBOX_MAILSTACK=$MAILSTACK_ROOT TICKETBOX_REQUIRE_MAILSTACK=1
cargo bench --bench mail "$@"
