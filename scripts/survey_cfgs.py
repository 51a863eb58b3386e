"""Survey: how many cuda-convnet layer definition files of other repositories `check` accepts.

    python scripts/survey_cfgs.py GIT_DIR [GIT_DIR ...]

For every `*.cfg` at HEAD of each repository whose text has a `type=` and an `inputs=` line (a
layer definition file, not a params or options file), the params file beside it is the one whose
name is the definition file's with `layers` -> `layer-params` (or `params`), if any. The input
size is not in cuda-convnet files (its data provider set it), so each file is checked with the
first of 32, 24, 224, 28, 64, 96, 128 that gives no `input-size`/shape error. Prints one line per
file (ok, or the first error's code and message) and the totals, plain and with --lenient.
"""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import PurePosixPath

from alexspec.errors import SpecError
from alexspec.pipeline import loads

SIZES = (32, 24, 224, 28, 64, 96, 128)


def _git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", repo, *args], check=True, capture_output=True).stdout.decode(
        "utf-8", errors="replace")


def _try(text: str, path: str, params: str | None, ppath: str | None, lenient: bool):
    first = None
    for size in SIZES:
        try:
            loads(text, path, params, ppath, inner_size=size, lenient=lenient)
            return None
        except SpecError as e:
            errors = [d for d in e.diagnostics if d.severity == "error"]
            first = first or errors[0]
            if not any(d.code in ("shape", "input-size", "channels") for d in errors):
                return errors[0]
    return first


def main(repos: list[str]) -> None:
    totals = collections.Counter()
    reasons = collections.Counter()
    for repo in repos:
        files = [f for f in _git(repo, "ls-tree", "-r", "--name-only", "HEAD").splitlines() if f.endswith(".cfg")]
        names = set(files)
        for f in files:
            text = _git(repo, "show", f"HEAD:{f}")
            if "type=" not in text.replace(" ", "") or "inputs=" not in text.replace(" ", ""):
                continue
            p = PurePosixPath(f)
            cands = [str(p.with_name(p.name.replace(a, b, 1))) for a, b in
                     (("layers", "layer-params"), ("layer", "layer-params"), ("layers", "params"))]
            pf = next((c for c in cands if c in names and c != f), None)
            params = _git(repo, "show", f"HEAD:{pf}") if pf else None
            where = f"{PurePosixPath(repo.rstrip('/').removesuffix('/.git').removesuffix('/repo')).name}:{f}"
            strict = _try(text, f, params, pf, lenient=False)
            lenient = _try(text, f, params, pf, lenient=True) if strict else None
            totals["files"] += 1
            totals["ok"] += strict is None
            totals["ok with --lenient"] += lenient is None
            if strict is not None:
                reasons[strict.code] += 1
            print(f"{where}: " + ("ok" if strict is None else
                                  f"{strict.code}: {strict.message[:110]}" + (" (ok with --lenient)" if lenient is None else "")))
    print(dict(totals))
    print("first error of the files that do not check:", dict(reasons.most_common()))


if __name__ == "__main__":
    main(sys.argv[1:])
