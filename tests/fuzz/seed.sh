#!/usr/bin/env bash
# Seeds the fuzz corpora: the repository's fixtures, rules and templates,
# and (when present) the shared corpus of real mail beside the project.
set -euo pipefail
cd "$(dirname "$0")/../.."
c=tests/fuzz/corpus
mkdir -p "$c/pipeline" "$c/rules" "$c/templates"
cp tests/fixtures/*.eml "$c/pipeline/"
if [ -d ../shared/corpus ]; then
  n=0
  while IFS= read -r -d '' f; do
    n=$((n + 1))
    # Big files slow libFuzzer down without teaching it much.
    [ "$(stat -c %s "$f")" -le 65536 ] && cp "$f" "$c/pipeline/shared-$n.eml"
  done < <(find ../shared/corpus -type f ! -name '*.json' ! -name '*.yml' ! -name '*.md' \
             ! -name 'LICENSE*' ! -name '*.html' -print0)
fi
cp rules/*.toml "$c/rules/"
for f in templates/*/*.txt templates/*/*.html; do
  cp "$f" "$c/templates/$(echo "$f" | tr / _)"
done
echo "seeded: $(ls "$c/pipeline" | wc -l) messages, $(ls "$c/rules" | wc -l) rule files, $(ls "$c/templates" | wc -l) templates"
