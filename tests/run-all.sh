#!/usr/bin/env bash
# Runs every test of ticketbox: unit tests, integration tests on the real
# binary, tests against a real Postfix and Dovecot and a private
# PostgreSQL on 127.0.0.1 (installed from Debian and started here when
# missing), acknowledgements rendered in
# headless Chromium, and the shared corpus when ../shared/corpus is present.
set -euo pipefail
cd "$(dirname "$0")/.."

export MAILSTACK_ROOT=${MAILSTACK_ROOT:-/tmp/ticketbox-mailstack}
stack=tests/mailstack/mailstack.sh
if [ "$(id -u)" = 0 ]; then
  bash tests/deps.sh
else
  sudo -n true 2>/dev/null && sudo bash tests/deps.sh
fi
started=no
if ! bash "$stack" status | grep -q "dovecot running" || ! bash "$stack" status | grep -q "postfix running"; then
  bash "$stack" up
  started=yes
fi
pg=tests/pg/pg.sh
pg_started=no
if ! bash "$pg" status | grep -q "postgres running"; then
  PG_FAST=1 bash "$pg" up
  pg_started=yes
fi
# Stop only what this script started.
trap '[ "$started" = yes ] && bash "$stack" down; [ "$pg_started" = yes ] && bash "$pg" down' EXIT

export TICKETBOX_MAILSTACK=$MAILSTACK_ROOT
export TICKETBOX_REQUIRE_MAILSTACK=1
TICKETBOX_PG=$(bash "$pg" url)
TICKETBOX_PG_CA=$(bash "$pg" ca)
export TICKETBOX_PG TICKETBOX_PG_CA
export TICKETBOX_REQUIRE_PG=1
export TICKETBOX_REQUIRE_CHROMIUM=1
cargo test --locked 2>&1
