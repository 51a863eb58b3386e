#!/usr/bin/env bash
# Mutation testing with cosmic-ray (pip install -e '.[mutation]'): one module's run, in a copy of
# the repository's files (the working tree is never mutated).
#   bash mutation/run.sh NAME            # NAME: mutation/NAME.toml; report mutation/results/NAME.txt
#   SAMPLE=80 bash mutation/run.sh NAME  # a seeded random sample of 80 of the module's mutants
#   RERUN=1 bash mutation/run.sh NAME    # the latest report's survivors again: NAME-rerunK.txt
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
name="$1"
bin="$repo/.venv/bin"
out="$repo/mutation/results/$name.txt"
commit="$(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD || echo ' + uncommitted')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work")
ln -s "$repo/.venv" "$work/.venv"
cd "$work"
mkdir -p "$repo/mutation/results"
"$bin/cosmic-ray" init "mutation/$name.toml" session.sqlite
if [ -n "${RERUN:-}" ]; then  # the survivors of the latest report, into the next -rerunK report
    k=1; last="$out"
    while [ -f "$repo/mutation/results/$name-rerun$k.txt" ]; do last="$repo/mutation/results/$name-rerun$k.txt"; k=$((k + 1)); done
    "$bin/python" "$repo/mutation/sample.py" session.sqlite --survivors "$last"
    out="$repo/mutation/results/$name-rerun$k.txt"
elif [ -n "${SAMPLE:-}" ]; then
    "$bin/python" "$repo/mutation/sample.py" session.sqlite "$SAMPLE"
fi
"$bin/cosmic-ray" baseline "mutation/$name.toml"
start=$(date +%s)
"$bin/cosmic-ray" exec "mutation/$name.toml" session.sqlite
{ echo "commit $commit, sample ${SAMPLE:-all}${RERUN:+, survivors rerun}, $(( $(date +%s) - start )) s"
  "$bin/cr-report" --show-diff session.sqlite; } > "$out.tmp"
mv "$out.tmp" "$out"
tail -n 3 "$out"
