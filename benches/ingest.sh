#!/usr/bin/env bash
# The main job measured (a benchmark, not a test): a 10,000-message Maildir
# `ingest` (2,500 customers in en/pl/he, a request and three replies each;
# 2,500 acknowledgements as files), wall time, CPU and peak RSS by
# /usr/bin/time, for this build and, when given, another build of
# ticketbox, runs alternated so both see the same machine.
#
#   bash benches/ingest.sh [OTHER_BINARY] [ROUNDS]     (default 3 rounds)
#
# As root, each run gets a freshly made ext4 (a loop file): on a disk where
# the previous run's files were just deleted, ext4 scans past recently
# deleted inodes for every file it creates, a fifth of the run here, and
# that is the benchmark's own doing, not ticketbox's. Otherwise each run
# gets a fresh directory under $TMPDIR. Each run is timed twice: as is, and
# with --no-deliver (intake and deciding only). Given another build, it
# ends with each alternated pair's speed-up (the other build's wall time
# over this one's) and their median, for both.
set -euo pipefail
cd "$(dirname "$0")/.."
other=${1:-}
rounds=${2:-3}
cargo build --release --bin ticketbox --example gen_maildir 2>&1 | tail -1
bin=$PWD/target/release/ticketbox
work=$(mktemp -d)
mnt=$work/fs
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
  rm -rf "$work"
}
trap cleanup EXIT
target/release/examples/gen_maildir "$work/md" 10000 >/dev/null
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); 10,000 messages ($(du -sh "$work/md" | cut -f1))"

# One run: $1 label, $2 binary, $3 its name in the summary, then
# ingest's extra arguments.
one() {
  local label=$1 b=$2 name=$3
  shift 3
  local root=$work/run
  if [ "$(id -u)" = 0 ]; then
    mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
    rm -f "$work/fs.img"
    truncate -s 3G "$work/fs.img"
    mkfs.ext4 -q -F "$work/fs.img"
    mkdir -p "$mnt"
    mount -o loop "$work/fs.img" "$mnt"
    root=$mnt
  else
    rm -rf "$root"
    mkdir -p "$root"
  fi
  cp -r "$work/md" "$root/md"
  sync
  # From a directory without rules/ or templates/: each build uses its
  # own built-in ones (an older build cannot read newer templates).
  (cd "$work" && /usr/bin/time -f "$label %e s wall, %U s user, %S s sys, peak RSS %M KB" \
    "$b" --data "$root/d" ingest "$@" "$root/md" >/dev/null 2>"$work/err") || {
    cat "$work/err"
    exit 1
  }
  local line
  line=$(tail -1 "$work/err")
  echo "$line"
  # Wall seconds, for the summary: one line per run, in run order.
  awk -v k="$name" '{for (i = 1; i < NF; i++) if ($(i + 1) == "s" && $(i + 2) == "wall,") print k, $i}' \
    <<<"$line" >>"$work/walls"
}

for r in $(seq "$rounds"); do
  one "this build          " "$bin" this
  [ -n "$other" ] && one "other build         " "$other" other
  one "this build  (--no-deliver)" "$bin" this-nd --no-deliver
  [ -n "$other" ] && one "other build (--no-deliver)" "$other" other-nd --no-deliver
done

# Each alternated pair's speed-up (the other build's wall time over this
# one's), and their median: runs next to each other saw the same machine.
if [ -n "$other" ]; then
  for mode in "" -nd; do
    awk -v a="this$mode" -v b="other$mode" '
      $1 == a { t[++n] = $2 } $1 == b { o[++m] = $2 }
      END {
        for (i = 1; i <= n && i <= m; i++) { r[i] = o[i] / t[i]; line = line sprintf(" %.2fx", r[i]) }
        k = (n < m) ? n : m
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (r[j] < r[i]) { x = r[i]; r[i] = r[j]; r[j] = x }
        med = (k % 2) ? r[(k + 1) / 2] : (r[k / 2] + r[k / 2 + 1]) / 2
        printf "speed-up%s per pair:%s; median %.2fx\n", (a ~ /-nd$/) ? " (--no-deliver)" : "", line, med
      }' "$work/walls"
  done
fi
