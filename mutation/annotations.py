"""List the survivors of a report that change only a function's annotations:

    .venv/bin/python mutation/annotations.py mutation/results/NAME.txt >> mutation/equivalent.txt

Under `from __future__ import annotations` an argument or return annotation is a string that
nothing here evaluates (no `get_type_hints`, no pydantic `validate_call` on these functions), so
`int | None` mutated to `int + None` changes no behaviour. A mutant is listed only when the
module has that import and its syntax tree, with every function's annotations removed, equals
the original's (annotations of class fields, which dataclasses and pydantic read, are kept).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@")
ENTRY = re.compile(r"^\[job-id\] \S+\n(?P<module>\S+) (?P<op>\S+) (?P<occ>\d+)\n"
                   r"worker outcome: \S+, test outcome: TestOutcome\.SURVIVED\n=== DIFF ===\n"
                   r"--- mutation diff ---\n--- .*\n\+\+\+ .*\n(?P<diff>(?:[@ +-].*\n?)*)", re.M)


def apply(source: str, diff: str) -> str:
    """`source` with the unified diff's hunks applied; a ValueError where the diff's context or
    removed lines are not the source's (a diff of other code, or of lines that moved since)."""
    old, new, at = source.splitlines(), [], 0
    lines = diff.splitlines()
    i = 0
    while i < len(lines):
        m = HUNK.match(lines[i])
        i += 1
        if not m:
            continue
        start = int(m[1]) - 1
        new += old[at:start]
        at = start
        while i < len(lines) and not lines[i].startswith("@@"):
            tag, text = lines[i][:1], lines[i][1:]
            i += 1
            if tag == " " and at == len(old) and not text:
                continue  # cosmic-ray's diffs end in an empty context line past the source's end
            if tag in " -":
                if at >= len(old) or old[at] != text:
                    raise ValueError(f"line {at + 1} of the source is not the diff's {text!r}")
                at += 1
            if tag in " +":
                new.append(text)
    return "\n".join(new + old[at:]) + "\n"


class _Strip(ast.NodeTransformer):
    def visit_FunctionDef(self, node):
        for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                  node.args.vararg, node.args.kwarg):
            if a is not None:
                a.annotation = None
        node.returns = None
        return self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef


def only_annotations(source: str, mutant: str) -> bool:
    """Whether the two sources differ in function annotations alone (with the future import)."""
    if "from __future__ import annotations" not in source:
        return False
    try:
        a, b = (ast.dump(_Strip().visit(ast.parse(s))) for s in (source, mutant))
    except SyntaxError:
        return False
    return a == b and source != mutant


def mutant_only_annotations(module: str, diff: str) -> bool:
    """Whether the mutant of `module` (a repository path) that `diff` makes changes function
    annotations only; a ValueError where the diff is not of the module's source as it is now."""
    source = (ROOT / module).read_text()
    return only_annotations(source, apply(source, diff))


def main(report: Path) -> None:
    for m in ENTRY.finditer(report.read_text()):
        try:
            annotation_only = mutant_only_annotations(m["module"], m["diff"])
        except ValueError as e:
            print(f"{m['module']} {m['op']} {m['occ']}: not checked, the source changed since the "
                  f"report ({e})", file=sys.stderr)
            continue
        if annotation_only:
            print(f"{m['module']} {m['op']} {m['occ']}  # a function annotation only "
                  "(a string under `from __future__ import annotations`; mutation/annotations.py)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
