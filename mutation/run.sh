#!/usr/bin/env bash
# Mutation testing with cosmic-ray (pip install -e '.[mutation]'): one module's run, in a copy of
# the repository's files (the working tree is never mutated), its tests run by a fork server
# (mutation/forkserver.py) that imports torch, pytest and the rest once, not once per mutant.
#   bash mutation/run.sh NAME            # NAME: mutation/NAME.toml; report mutation/results/NAME.txt
#   SAMPLE=80 bash mutation/run.sh NAME  # a seeded random sample of 80 of the module's mutants
#   RERUN=1 bash mutation/run.sh NAME    # the latest report's survivors again: NAME-rerunK.txt
#   KEEP=DIR bash mutation/run.sh NAME   # work in DIR and keep it; the same again resumes the run
# A module whose test-command starts with --select=MAP (compiler) runs each mutant's tests only,
# from MAP, written first by mutation/coverage_map.py (its command is in docs/testing.md); that
# run is the baseline (it exits 1 if a test fails), so cosmic-ray's own baseline is skipped.
# Stopping `cosmic-ray exec` (kill its process) still writes the report of the mutants done.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
name="$1"
bin="$repo/.venv/bin"
out="$repo/mutation/results/$name.txt"
commit="$(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- alexspec compiler runtime tests || echo ' + uncommitted')"
server=""
if [ -n "${KEEP:-}" ]; then
    work="$KEEP"; trap '[ -z "$server" ] || kill -KILL "$server"' EXIT
else
    work="$(mktemp -d)"; trap '[ -z "$server" ] || kill -KILL "$server"; rm -rf "$work"' EXIT
fi
if [ -f "$work/session.sqlite" ]; then  # resume: undo the mutant a stopped exec left in place
    cp -a "$work/.pristine/." "$work/"
    resume=1
else
    resume=""
    mkdir -p "$work"
    (cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work")
    ln -s "$repo/.venv" "$work/.venv"
    [ ! -d "$repo/mutation/coverage" ] || cp -a "$repo/mutation/coverage" "$work/mutation/"  # ignored by git
    mkdir "$work/.pristine" && (cd "$work" && cp -a --parents alexspec compiler runtime .pristine/)
fi
cd "$work"
mkdir -p "$repo/mutation/results"
# The server warms up on the module's own test command (its pytest arguments after the socket).
args="$("$bin/python" -c 'import sys, tomllib, shlex; c = tomllib.load(open(sys.argv[1], "rb"))["cosmic-ray"]["test-command"]; print(shlex.join(shlex.split(c)[5:]))' "mutation/$name.toml")"
rm -f .forkserver.sock
eval "exec \"$bin/python\" mutation/forkserver.py serve .forkserver.sock . $args" > forkserver.log 2>&1 &  # exec: $! is the server
server=$!
while [ ! -S .forkserver.sock ]; do
    kill -0 "$server" 2>/dev/null || { cat forkserver.log; exit 1; }
    sleep 1
done
if [ -z "$resume" ]; then
    "$bin/cosmic-ray" init "mutation/$name.toml" session.sqlite
    if [ -n "${RERUN:-}" ]; then  # the survivors of the latest report, into the next -rerunK report
        k=1; last="$out"
        while [ -f "$repo/mutation/results/$name-rerun$k.txt" ]; do last="$repo/mutation/results/$name-rerun$k.txt"; k=$((k + 1)); done
        "$bin/python" "$repo/mutation/sample.py" session.sqlite --survivors "$last"
        echo "$name-rerun$k" > report.name
    elif [ -n "${SAMPLE:-}" ]; then
        "$bin/python" "$repo/mutation/sample.py" session.sqlite "$SAMPLE" | tee sample.out
        SAMPLE="$(sed -n 's/^kept \([0-9]*\) of \([0-9]*\) mutants$/\1 of \2/p' sample.out)"
    fi
    grep -q -- "--select=" "mutation/$name.toml" || "$bin/cosmic-ray" baseline "mutation/$name.toml"
    echo "commit $commit, sample ${SAMPLE:-all}${RERUN:+, survivors rerun}" > report.head
fi
[ -f report.name ] && out="$repo/mutation/results/$(cat report.name).txt"
start=$(date +%s)
"$bin/cosmic-ray" exec "mutation/$name.toml" session.sqlite || echo "cosmic-ray exec stopped: the report has the mutants done"
if [ -f .forkserver.failed ]; then  # its exit status read as a kill: the report would lie
    echo "the fork server stopped answering (forkserver.log): no report written" >&2; cat forkserver.log >&2; exit 1
fi
took=$(( $(date +%s) - start + $(cat exec.seconds 2>/dev/null || echo 0) ))
echo "$took" > exec.seconds
{ echo "$(cat report.head), $took s"
  "$bin/cr-report" --show-diff session.sqlite; } > "$out.tmp"
mv "$out.tmp" "$out"
tail -n 3 "$out"
