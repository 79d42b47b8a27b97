#!/usr/bin/env bash
# A private PostgreSQL for ticketbox's tests: its own cluster in
# $PG_ROOT (initdb), listening on 127.0.0.1 only, run as the `postgres`
# user, no systemd and nothing of the distribution's clusters touched.
#
#   pg.sh install    apt-get install Debian's postgresql when missing (root)
#   pg.sh up         initdb when new, start the server, create the database
#   pg.sh down       stop the server this script started
#   pg.sh status     "postgres running" or "postgres stopped"
#   pg.sh url        the connection URL tests use
#   pg.sh ca         the server's certificate (TLS is on; clients that
#                    ask for it trust this file)
#
# Port 15432 on 127.0.0.1; user `ticketbox`, password `ticketbox` (scram),
# database `ticketbox`. Each test makes a database of its own from there
# (see src/store/postgres/tests.rs and tests/common/pg.rs).
set -euo pipefail
ROOT=${PG_ROOT:-/tmp/ticketbox-pg}
PORT=${PG_PORT:-15432}
DATA=$ROOT/data

bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

install_pkgs() {
  if bindir >/dev/null; then return 0; fi
  export DEBIAN_FRONTEND=noninteractive
  # Keep package scripts from starting the distribution's own cluster.
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

# Runs a command as the postgres user (the server refuses to run as root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() {
  [ -f "$DATA/postmaster.pid" ] && as_pg "$(bindir)/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

up() {
  local bin
  bin=$(bindir) || { echo "pg.sh: PostgreSQL is not installed (run: pg.sh install, as root)" >&2; exit 1; }
  mkdir -p "$ROOT"
  [ "$(id -u)" = 0 ] && chown postgres "$ROOT"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    printf 'ticketbox\n' >"$ROOT/pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$ROOT/pwfile"
    as_pg "$bin/initdb" -D "$DATA" -U ticketbox --pwfile="$ROOT/pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$ROOT/initdb.log"
    cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$ROOT'
max_connections = 200
shared_buffers = 64MB
log_min_messages = warning
EOF
  fi
  if [ ! -s "$DATA/server.crt" ]; then
    # TLS for clients that ask (sslmode=require): a self-signed leaf for
    # 127.0.0.1, which is also the CA file they trust.
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=localhost' \
      -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
      -addext 'basicConstraints=critical,CA:FALSE' -addext 'extendedKeyUsage=serverAuth' \
      -keyout "$DATA/server.key" -out "$DATA/server.crt" 2>/dev/null
    chmod 600 "$DATA/server.key"
    [ "$(id -u)" = 0 ] && chown postgres "$DATA/server.key" "$DATA/server.crt"
    printf "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n" >>"$DATA/postgresql.conf"
    if running; then as_pg "$bin/pg_ctl" -D "$DATA" reload >/dev/null; fi
  fi
  if ! running; then
    # PG_FAST=1 (tests/run-all.sh): a throwaway cluster that never syncs
    # to disk, so its writes do not stall the timing-sensitive tests that
    # run beside it (tests/scaling.rs flushes sled and compares times).
    # Benchmarks start it without, durable as in production.
    local opts=""
    [ "${PG_FAST:-}" = 1 ] && opts="-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off"
    as_pg "$bin/pg_ctl" -D "$DATA" -l "$ROOT/server.log" -o "$opts" -w -t 30 start >/dev/null
  fi
  if ! PGPASSWORD=ticketbox "$bin/psql" -h 127.0.0.1 -p "$PORT" -U ticketbox -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'ticketbox'" | grep -q 1; then
    PGPASSWORD=ticketbox "$bin/psql" -q -h 127.0.0.1 -p "$PORT" -U ticketbox -d postgres -c "CREATE DATABASE ticketbox"
  fi
  echo "postgres up: $(url)"
}

down() {
  if running; then
    as_pg "$(bindir)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
  fi
}

url() {
  # Plain on loopback; the TLS test asks for sslmode=require itself.
  echo "postgres://ticketbox:ticketbox@127.0.0.1:$PORT/ticketbox?sslmode=disable"
}

case "${1:-}" in
  install) install_pkgs ;;
  up) up ;;
  down) down ;;
  status) if running; then echo "postgres running"; else echo "postgres stopped"; fi ;;
  url) url ;;
  ca) echo "$DATA/server.crt" ;;
  *) echo "usage: pg.sh install|up|down|status|url|ca" >&2; exit 2 ;;
esac
