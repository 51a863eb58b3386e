#!/usr/bin/env bash
# Mutation testing with cosmic-ray (pip install -e '.[mutation]'): one module's run, in a copy of
# the repository's files (the working tree is never mutated), its tests run by a fork server
# (mutation/forkserver.py) that imports torch, pytest and the rest once, not once per mutant.
#   bash mutation/run.sh NAME            # NAME: mutation/NAME.toml; report mutation/results/NAME.txt
#   SAMPLE=80 bash mutation/run.sh NAME  # a seeded random sample of 80 of the module's mutants
#   LINES=compiler/plan.py:82-82,133-147 bash mutation/run.sh NAME  # only the mutants in those lines
#                                        # (changed after a whole run): report NAME-lines.txt
#   RERUN=1 bash mutation/run.sh NAME    # the survivors not yet judged (mutation/unjudged.py) again,
#                                        # with the tests added since: NAME-rerunK.txt
#   RERUN=REPORT bash mutation/run.sh NAME  # the same for another report's survivors (a running
#                                        # session's `cr-report --show-diff` copy, say)
#   KEEP=DIR bash mutation/run.sh NAME   # work in DIR and keep it; the same again resumes the run
#   WORKERS=2 bash mutation/run.sh NAME  # two mutants at a time: cosmic-ray's http distributor, each
#                                        # worker in its own copy (DIR/w1, DIR/w2) with its own server
#   MAP=FILE RERUN=1 bash mutation/run.sh NAME  # a --select module with another coverage map, e.g.
#                                        # one of the tests written since the run only (a rerun's kills)
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
workers="${WORKERS:-1}"
pids=()  # fork servers and http workers, killed on exit
stop_all() { [ ${#pids[@]} -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true; }
if [ -n "${KEEP:-}" ]; then
    work="$KEEP"; trap stop_all EXIT
else
    work="$(mktemp -d)"; trap 'stop_all; rm -rf "$work"' EXIT
fi
copy_tree() {  # the repository's files into $1, with the venv, the coverage maps and a pristine copy
    mkdir -p "$1"
    (cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$1")
    ln -s "$repo/.venv" "$1/.venv"
    [ ! -d "$repo/mutation/coverage" ] || cp -a "$repo/mutation/coverage" "$1/mutation/"  # ignored by git
    mkdir "$1/.pristine" && (cd "$1" && cp -a --parents alexspec compiler runtime .pristine/)
}
trees=("$work")  # where mutants are made: the work folder itself, or one copy per worker
[ "$workers" -eq 1 ] || trees=($(for k in $(seq 1 "$workers"); do echo "$work/w$k"; done))
if [ -f "$work/session.sqlite" ]; then  # resume: undo the mutants a stopped exec left in place
    for t in "${trees[@]}"; do cp -a "$t/.pristine/." "$t/"; done
    resume=1
else
    resume=""
    copy_tree "$work"
    [ "$workers" -eq 1 ] || for t in "${trees[@]}"; do copy_tree "$t"; done
fi
cd "$work"
mkdir -p "$repo/mutation/results"
# The run's configuration: the module's, with MAP's coverage map in --select (when given) and,
# for several workers, the http distributor (added below, once their ports are known).
config="mutation/$name.run.toml"
"$bin/python" - "mutation/$name.toml" "$config" "${MAP:-}" <<'PY'
import re, sys
source, target, new_map = sys.argv[1:]
text = open(source).read()
if new_map:
    text, n = re.subn(r"--select=\S+", f"--select={new_map}", text)
    if n != 1:
        sys.exit(f"{source}: MAP= needs a test-command with --select=")
open(target, "w").write(text)
PY
# Each server warms up on the run's test command (its pytest arguments after the socket).
args="$("$bin/python" -c 'import sys, tomllib, shlex; c = tomllib.load(open(sys.argv[1], "rb"))["cosmic-ray"]["test-command"]; print(shlex.join(shlex.split(c)[5:]))' "$config")"
for t in "${trees[@]}"; do
    rm -f "$t/.forkserver.sock"
    (cd "$t" && eval "exec \"$bin/python\" mutation/forkserver.py serve .forkserver.sock . $args") > "$t/forkserver.log" 2>&1 &
    pids+=($!)
done
for k in "${!trees[@]}"; do
    while [ ! -S "${trees[$k]}/.forkserver.sock" ]; do
        kill -0 "${pids[$k]}" 2>/dev/null || { cat "${trees[$k]}/forkserver.log"; exit 1; }
        sleep 1
    done
done
if [ "$workers" -gt 1 ]; then  # one `cosmic-ray http-worker` per copy, on a free port
    ports=($("$bin/python" -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$workers"))
    for k in "${!trees[@]}"; do
        (cd "${trees[$k]}" && exec "$bin/cosmic-ray" http-worker --port "${ports[$k]}") > "${trees[$k]}/http-worker.log" 2>&1 &
        pids+=($!)
        until (: > "/dev/tcp/127.0.0.1/${ports[$k]}") 2>/dev/null; do sleep 0.5; done
    done
    "$bin/python" - "$config" "${ports[@]}" <<'PY'
import sys
target, *ports = sys.argv[1:]
text = open(target).read().split("[cosmic-ray.distributor]")[0]
urls = ", ".join(f'"http://127.0.0.1:{p}"' for p in ports)
open(target, "w").write(text + f'[cosmic-ray.distributor]\nname = "http"\n\n[cosmic-ray.distributor.http]\nworker-urls = [{urls}]\n')
PY
fi
if [ -z "$resume" ]; then
    "$bin/cosmic-ray" init "mutation/$name.toml" session.sqlite
    if [ -n "${RERUN:-}" ]; then  # the survivors no one has judged yet, into the next -rerunK report
        k=1; of="$out"; [ "$RERUN" = 1 ] || of="$(cd "$repo" && realpath "$RERUN")"
        while [ -f "$repo/mutation/results/$name-rerun$k.txt" ]; do k=$((k + 1)); done
        "$bin/python" "$repo/mutation/sample.py" session.sqlite --survivors "$of" "$name"
        echo "$name-rerun$k" > report.name
    elif [ -n "${LINES:-}" ]; then
        "$bin/python" "$repo/mutation/sample.py" session.sqlite --lines "$LINES"
        echo "$name-lines" > report.name; SAMPLE="lines $LINES"
    elif [ -n "${SAMPLE:-}" ]; then
        "$bin/python" "$repo/mutation/sample.py" session.sqlite "$SAMPLE" | tee sample.out
        SAMPLE="$(sed -n 's/^kept \([0-9]*\) of \([0-9]*\) mutants$/\1 of \2/p' sample.out)"
    fi
    grep -q -- "--select=" "mutation/$name.toml" || (cd "${trees[0]}" && "$bin/cosmic-ray" baseline "mutation/$name.toml")
    echo "commit $commit, sample ${SAMPLE:-all}${RERUN:+, survivors rerun}" > report.head
fi
[ -f report.name ] && out="$repo/mutation/results/$(cat report.name).txt"
start=$(date +%s)
"$bin/cosmic-ray" exec "$config" session.sqlite || echo "cosmic-ray exec stopped: the report has the mutants done"
for t in "${trees[@]}"; do
    if [ -f "$t/.forkserver.failed" ]; then  # its exit status read as a kill: the report would lie
        echo "the fork server in $t stopped answering (forkserver.log): no report written" >&2
        cat "$t/forkserver.log" >&2; exit 1
    fi
done
took=$(( $(date +%s) - start + $(cat exec.seconds 2>/dev/null || echo 0) ))
echo "$took" > exec.seconds
{ echo "$(cat report.head), $took s"
  "$bin/cr-report" --show-diff session.sqlite; } > "$out.tmp"
mv "$out.tmp" "$out"
tail -n 3 "$out"
