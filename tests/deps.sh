#!/usr/bin/env bash
# Installs what the tests need from Debian when it is missing: Postfix and
# Dovecot (tests/mailstack/mailstack.sh install), PostgreSQL
# (tests/pg/pg.sh install), Chromium and a font with
# Hebrew and Polish glyphs (for rendering acknowledgements). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/mailstack/mailstack.sh install
bash tests/pg/pg.sh install
if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi dejavu; then
  export DEBIAN_FRONTEND=noninteractive
  [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fontconfig >/dev/null
fi
