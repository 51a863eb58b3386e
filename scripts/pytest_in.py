"""Run pytest with the alexspec packages imported from another copy of the repository.

    python scripts/pytest_in.py ROOT [PYTEST ARGS...]

The installed (editable) alexspec points at one working tree; a copy (where `scripts/planted.py`
plants a bug, or where the mutation tool mutates a file) must be imported instead. A finder put
first on `sys.meta_path` maps `alexspec`, `alexspec.compiler` and `alexspec.runtime` to ROOT's
`alexspec/`, `compiler/` and `runtime/` (pyproject.toml's package-dir). Tests that start a new
Python process import the installed package, not the copy. The copy's modules are always
compiled from their source, never from a `.pyc`: a mutation tool rewrites a file many times a
second, faster than the `.pyc`'s one-second time stamp can tell apart.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

PACKAGES = {"alexspec": "alexspec", "alexspec.compiler": "compiler", "alexspec.runtime": "runtime"}


# path -> (source bytes, code): code compiled before a fork (mutation/forkserver.py fills it
# with the unmutated files), used where the file still holds exactly those bytes
COMPILED: dict[str, tuple[bytes, object]] = {}


def precompile(root: Path) -> int:
    """Compile every .py file of the packages under `root` into COMPILED; how many."""
    for d in PACKAGES.values():
        for f in (root / d).rglob("*.py"):
            source = f.read_bytes()
            COMPILED[str(f)] = (source, compile(source, str(f), "exec", dont_inherit=True))
    return len(COMPILED)


class SourceLoader(importlib.machinery.SourceFileLoader):
    """Compile from the source every time (or take COMPILED's code of the same bytes), and write
    no `.pyc`."""

    def get_code(self, fullname):
        source = self.get_data(self.path)
        cached = COMPILED.get(self.path)
        if cached is not None and cached[0] == source:
            return cached[1]
        return self.source_to_code(source, self.path)


class CopyFinder(importlib.abc.MetaPathFinder):
    """Import the alexspec packages from `root` (a copy of the repository)."""

    def __init__(self, root: Path):
        self.dirs = {name: root / d for name, d in PACKAGES.items()}

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.dirs:
            d = self.dirs[fullname]
            init = str(d / "__init__.py")
            return importlib.util.spec_from_file_location(
                fullname, init, loader=SourceLoader(fullname, init), submodule_search_locations=[str(d)])
        parent = fullname.rpartition(".")[0]
        spec = None
        if parent in self.dirs:
            spec = importlib.machinery.PathFinder.find_spec(fullname, [str(self.dirs[parent])])
        elif parent.split(".")[0] == "alexspec" and parent in sys.modules:  # a deeper subpackage
            spec = importlib.machinery.PathFinder.find_spec(fullname, sys.modules[parent].__path__)
        if spec is not None and isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            spec.loader = SourceLoader(fullname, spec.origin)
        return spec


def main(argv: list[str], plugins: list[object] | None = None) -> int:
    """Run pytest on argv[1:] (with `plugins` registered) with alexspec imported from argv[0]."""
    root = Path(argv[0]).resolve()
    sys.meta_path.insert(0, CopyFinder(root))
    sys.path.insert(0, str(root))
    import pytest

    import alexspec

    if not Path(alexspec.__file__).resolve().is_relative_to(root):
        print(f"alexspec imported from {alexspec.__file__}, not from {root}", file=sys.stderr)
        return 3
    return int(pytest.main(argv[1:], plugins=plugins))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
