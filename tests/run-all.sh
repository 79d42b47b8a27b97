#!/usr/bin/env bash
# Runs every test of ticketbox: unit tests, integration tests on the real
# binary, and the shared corpus when ../shared/corpus is present.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked 2>&1
