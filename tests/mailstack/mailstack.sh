#!/usr/bin/env bash
# A loopback-only Postfix + Dovecot for ticketbox's tests: no systemd,
# nothing in /etc read at run time, every file under $MAILSTACK_ROOT.
#
#   mailstack.sh install            apt-get install the packages when missing
#   mailstack.sh up                 write config under $MAILSTACK_ROOT, start both daemons
#   mailstack.sh down               stop the daemons this script started (by their pid files)
#   mailstack.sh stop-dovecot|start-dovecot|stop-postfix|start-postfix
#   mailstack.sh status
#
# Ports, all on 127.0.0.1: SMTP 2525 (STARTTLS and AUTH offered), IMAP 1143
# (plain, STARTTLS), IMAPS 1993 (implicit TLS), LMTP 2424, Dovecot SASL 12345.
# Every address @example.test exists (a static passdb, password "secret"),
# so each test can use mailboxes of its own. TLS: a self-signed leaf
# certificate for localhost/127.0.0.1 in $MAILSTACK_ROOT/tls/cert.pem, which
# is also the CA file clients trust.
set -euo pipefail
ROOT=${MAILSTACK_ROOT:-/tmp/ticketbox-mailstack}
VUID=5000   # owns the Maildirs; needs no /etc/passwd entry
DOVECOT_PID=$ROOT/run/dovecot/master.pid
POSTFIX_PID=$ROOT/spool/postfix/pid/master.pid

install_pkgs() {
  if command -v dovecot >/dev/null && command -v postfix >/dev/null \
     && [ -x /usr/lib/dovecot/lmtp ] && [ -x /usr/lib/dovecot/imap ]; then
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Keep package scripts from starting the distribution's own daemons.
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postfix dovecot-imapd dovecot-lmtpd >/dev/null
}

write_config() {
  mkdir -p "$ROOT"/{tls,dovecot,postfix,vmail,run/dovecot-state,log,spool/postfix,lib/postfix}
  if [ ! -s "$ROOT/tls/cert.pem" ]; then
    # rustls refuses a CA:TRUE certificate as a server certificate.
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=localhost' \
      -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
      -addext 'basicConstraints=critical,CA:FALSE' -addext 'extendedKeyUsage=serverAuth' \
      -keyout "$ROOT/tls/key.pem" -out "$ROOT/tls/cert.pem" 2>/dev/null
  fi
  cat >"$ROOT/dovecot/dovecot.conf" <<EOF
protocols = imap lmtp
listen = 127.0.0.1
base_dir = $ROOT/run/dovecot
state_dir = $ROOT/run/dovecot-state
instance_name = ticketbox-mailstack
log_path = $ROOT/log/dovecot.log
info_log_path = $ROOT/log/dovecot.log
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_username_format = %Lu
ssl = yes
ssl_cert = <$ROOT/tls/cert.pem
ssl_key = <$ROOT/tls/key.pem
first_valid_uid = $VUID
mail_location = maildir:~/Maildir
postmaster_address = postmaster@example.test
hostname = mail.example.test
mail_max_userip_connections = 200
# OAuth2 tokens are checked at the introspection endpoint of the fake
# authorization server the tests run (tests/common/fake_oauth.rs).
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $ROOT/dovecot/oauth2.conf.ext
}
passdb {
  driver = static
  mechanisms = plain login
  args = password=secret
}
userdb {
  driver = static
  # Every user exists (no passdb lookup to prove it: the oauth2 passdb
  # cannot look users up).
  args = uid=$VUID gid=$VUID home=$ROOT/vmail/%Ld/%Ln allow_all_users=yes
}
protocol imap {
  mail_plugins =
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = 1143
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = 1993
    ssl = yes
  }
  process_min_avail = 2
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = 2424
  }
}
service auth {
  inet_listener sasl {
    address = 127.0.0.1
    port = 12345
  }
}
EOF
  cat >"$ROOT/dovecot/oauth2.conf.ext" <<EOF
introspection_mode = post
introspection_url = http://127.0.0.1:18089/introspect
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
EOF
  # Dovecot (as uid $VUID) creates each user's Maildir below the domain.
  mkdir -p "$ROOT/vmail/example.test"
  chown $VUID:$VUID "$ROOT/vmail" "$ROOT/vmail/example.test"; chmod 770 "$ROOT/vmail" "$ROOT/vmail/example.test"

  cat >"$ROOT/postfix/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $ROOT/spool/postfix
data_directory = $ROOT/lib/postfix
maillog_file = $ROOT/log/postfix.log
maillog_file_prefixes = /var, /dev/stdout, $ROOT
myhostname = mail.example.test
mydomain = example.test
myorigin = \$mydomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
default_transport = error:outbound mail disabled in test stack
relay_transport = error:outbound mail disabled in test stack
smtp_dns_support_level = disabled
disable_dns_lookups = yes
biff = no
append_dot_mydomain = no
smtputf8_enable = no
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = example.test
virtual_mailbox_maps = regexp:$ROOT/postfix/vmailbox
virtual_transport = lmtp:inet:127.0.0.1:2424
lmtp_destination_recipient_limit = 1
# Mail to anyone@p<PORT>.lmtp.test goes over LMTP to a ticketbox worker
# listening on 127.0.0.1:<PORT> (each test runs its own worker and port,
# 24100 to 24399).
relay_domains = regexp:$ROOT/postfix/lmtp_domains
transport_maps = regexp:$ROOT/postfix/transport
# Mail to anyone@pipe.test goes through the pipe transport to
# $ROOT/pipe/ticketbox deliver (a test puts the binary and its config there).
ticketbox_destination_recipient_limit = 1
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:12345
smtpd_sasl_security_options = noanonymous
smtpd_tls_auth_only = no
smtpd_tls_security_level = may
smtpd_tls_cert_file = $ROOT/tls/cert.pem
smtpd_tls_key_file = $ROOT/tls/key.pem
smtp_tls_security_level = none
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
default_process_limit = 200
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 60s
bounce_queue_lifetime = 0
message_size_limit = 52428800
EOF
  # Every local part exists, so each test can have mailboxes of its own.
  cat >"$ROOT/postfix/vmailbox" <<'EOF'
/^[^@]+@example\.test$/ ok
EOF
  cat >"$ROOT/postfix/lmtp_domains" <<'EOF'
/^p[0-9]+\.lmtp\.test$/ OK
/^pipe\.test$/ OK
/^loop\.test$/ OK
EOF
  # Postfix allows no substitution in transport maps: one line per port
  # (tests pick their LMTP port in 24100-24399).
  for port in $(seq 24100 24399); do
    echo "/@p$port\.lmtp\.test\$/ lmtp:inet:127.0.0.1:$port"
  done >"$ROOT/postfix/transport"
  echo '/@pipe\.test$/ ticketbox:' >>"$ROOT/postfix/transport"
  # Mail to *@loop.test is accepted, then comes back to this Postfix and
  # bounces ("loops back to myself", 5.4.6): a real DSN, after the fact.
  echo '/@loop\.test$/ smtp:[127.0.0.1]:2525' >>"$ROOT/postfix/transport"
  cat >"$ROOT/postfix/master.cf" <<'EOF'
127.0.0.1:2525 inet n  -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
  # The pipe transport (ticketbox deliver) runs as nobody: Postfix runs no
  # pipe as root.
  cat >>"$ROOT/postfix/master.cf" <<EOF
ticketbox unix  -       n       n       -       -       pipe
  flags=DRO user=nobody argv=$ROOT/pipe/ticketbox --config $ROOT/pipe/ticketbox.toml deliver --recipient \${recipient}
EOF
  mkdir -p "$ROOT/pipe"; chmod 755 "$ROOT" "$ROOT/pipe"
  chown postfix "$ROOT/lib/postfix"
}

wait_port() { # port: wait up to 10 s for a listener on 127.0.0.1:port
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done
  echo "mailstack: port $1 is not listening; see $ROOT/log/" >&2; return 1
}

running() { # pidfile: is its process alive (a zombie counts as gone)
  [ -s "$1" ] || return 1
  local pid; pid=$(tr -d ' \n' <"$1")
  kill -0 "$pid" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ]
}

start_dovecot() {
  running "$DOVECOT_PID" && return 0
  doveconf -c "$ROOT/dovecot/dovecot.conf" -n >/dev/null
  # Daemons keep the caller's stderr open: redirect, or a captured pipe never ends.
  dovecot -c "$ROOT/dovecot/dovecot.conf" </dev/null >>"$ROOT/log/dovecot.stderr" 2>&1
  for p in 1143 1993 2424 12345; do wait_port $p; done
  # Postfix's smtpd processes keep their connection to Dovecot's auth
  # socket: after a restart they would answer "454 Connection lost to
  # authentication server" until recycled. A reload recycles them.
  if running "$POSTFIX_PID"; then
    postfix -c "$ROOT/postfix" reload </dev/null >>"$ROOT/log/postfix.stderr" 2>&1 || true
  fi
}

start_postfix() {
  running "$POSTFIX_PID" && return 0
  postfix -c "$ROOT/postfix" check </dev/null >>"$ROOT/log/postfix.stderr" 2>&1
  postfix -c "$ROOT/postfix" start </dev/null >>"$ROOT/log/postfix.stderr" 2>&1
  wait_port 2525
}

stop_pid() { # name pidfile
  running "$2" || return 0
  local pid; pid=$(tr -d ' \n' <"$2")
  kill -TERM "$pid"
  for _ in $(seq 100); do running "$2" || return 0; sleep 0.1; done
  echo "mailstack: $1 ($pid) is still alive" >&2; return 1
}

up() {
  write_config
  start_dovecot
  start_postfix
}

stop_dovecot() {
  stop_pid dovecot "$DOVECOT_PID"
  # Client processes (imap) of this instance may outlive the master for a
  # while; a real server restart drops their connections, so end them too.
  pkill -TERM -f '^dovecot-ticketbox-mailstack/' 2>/dev/null || true
  for _ in $(seq 50); do pgrep -f '^dovecot-ticketbox-mailstack/' >/dev/null || return 0; sleep 0.1; done
  pkill -KILL -f '^dovecot-ticketbox-mailstack/' 2>/dev/null || true
}

down() {
  stop_pid postfix "$POSTFIX_PID"
  stop_dovecot
}

case "${1:-}" in
  install) install_pkgs ;;
  up) up ;;
  down) down ;;
  stop-dovecot) stop_dovecot ;;
  start-dovecot) start_dovecot ;;
  stop-postfix) stop_pid postfix "$POSTFIX_PID" ;;
  start-postfix) start_postfix ;;
  status)
    running "$DOVECOT_PID" && echo "dovecot running" || echo "dovecot stopped"
    running "$POSTFIX_PID" && echo "postfix running" || echo "postfix stopped" ;;
  *) echo "usage: $0 install|up|down|status|stop-dovecot|start-dovecot|stop-postfix|start-postfix" >&2; exit 2 ;;
esac
