"""Run pytest with the alexspec packages imported from another copy of the repository.

    python scripts/pytest_in.py ROOT [PYTEST ARGS...]

The installed (editable) alexspec points at one working tree; a copy (where `scripts/planted.py`
plants a bug, or where the mutation tool mutates a file) must be imported instead. A finder put
first on `sys.meta_path` maps `alexspec`, `alexspec.compiler` and `alexspec.runtime` to ROOT's
`alexspec/`, `compiler/` and `runtime/` (pyproject.toml's package-dir). Tests that start a new
Python process import the installed package, not the copy.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

PACKAGES = {"alexspec": "alexspec", "alexspec.compiler": "compiler", "alexspec.runtime": "runtime"}


class CopyFinder(importlib.abc.MetaPathFinder):
    """Import the alexspec packages from `root` (a copy of the repository)."""

    def __init__(self, root: Path):
        self.dirs = {name: root / d for name, d in PACKAGES.items()}

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.dirs:
            d = self.dirs[fullname]
            return importlib.util.spec_from_file_location(
                fullname, d / "__init__.py", submodule_search_locations=[str(d)])
        parent = fullname.rpartition(".")[0]
        if parent in self.dirs:
            return importlib.machinery.PathFinder.find_spec(fullname, [str(self.dirs[parent])])
        return None


def main(argv: list[str]) -> int:
    """Run pytest on argv[1:] with alexspec imported from argv[0]."""
    root = Path(argv[0]).resolve()
    sys.meta_path.insert(0, CopyFinder(root))
    sys.path.insert(0, str(root))
    import pytest

    import alexspec

    if not Path(alexspec.__file__).resolve().is_relative_to(root):
        print(f"alexspec imported from {alexspec.__file__}, not from {root}", file=sys.stderr)
        return 3
    return int(pytest.main(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
