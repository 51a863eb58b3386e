"""A fork server that makes one mutant's test run cost its tests, not Python's start-up.

    python mutation/forkserver.py serve SOCKET ROOT [PYTEST ARGS...]   # run.sh starts this
    python -S mutation/forkserver.py run SOCKET [PYTEST ARGS...]       # the test-command

A fresh pytest process per mutant spends nearly all its time importing torch, numpy, pytest,
hypothesis and the like (a few seconds each time). `serve` runs the tests once in a child
process (the warm-up), imports every module that run loaded except the project's own (alexspec,
the tests, conftest: anything from ROOT or from the installed working tree), then waits on a unix
socket. `run` (stdlib only, so it starts in milliseconds) sends its working directory, its
stdout/stderr and the pytest arguments; the server forks a child that starts from the
warmed-up imports, imports alexspec fresh from that directory through scripts/pytest_in.py's
finder (so it sees the mutated file), runs `pytest.main` and exits with its status, which `run`
returns. The child gets its own process group and is killed when `run` goes away (cosmic-ray's
timeout kills `run`) or after `--timeout` seconds.

With `--select=MAP` first among the pytest arguments (MAP written by mutation/coverage_map.py),
the server runs no warm-up (it preloads the modules the map's run imported), and each mutant
runs only the tests that executed the mutated statement when the map was made (see
`tests_for_mutant`):
the tests of a large module's whole suite, at the cost of the few that reach the mutant.
"""

from __future__ import annotations

import array
import ast
import difflib
import json
import os
import select
import signal
import socket
import sys
import time

TIMEOUT_STATUS = 124  # like timeout(1): the child ran past its time


class FastFirst:
    """A pytest plugin: record each test's time (the warm-up), or run the tests fastest first
    (each mutant), so that under `-x` a mutant that a quick test kills costs only that test."""

    def __init__(self, seconds: dict[str, float] | None = None):
        self.seconds = seconds
        self.took: dict[str, float] = {}

    def pytest_runtest_logreport(self, report) -> None:
        self.took[report.nodeid] = self.took.get(report.nodeid, 0.0) + report.duration

    def pytest_collection_modifyitems(self, session, config, items) -> None:
        if self.seconds:  # a stable sort: equally quick tests keep their order
            items.sort(key=lambda item: self.seconds.get(item.nodeid, 0.0))


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """One request: a JSON line and the client's stdout/stderr descriptors."""
    fds = array.array("i")
    data = b""
    while not data.endswith(b"\n"):
        msg, anc, _flags, _addr = conn.recvmsg(1 << 16, socket.CMSG_SPACE(2 * fds.itemsize))
        if not msg:
            raise ConnectionError("client closed before its request")
        data += msg
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return json.loads(data), list(fds)

MAP: dict = {}  # the coverage map, when the server runs with --select=MAP
VALUE_OPTIONS = ("-p", "-m", "-k", "-c", "-o", "--rootdir", "--deselect")


def _split(args: list[str]) -> tuple[list[str], list[str]]:
    """pytest arguments as (options, test paths)."""
    options, paths = [], []
    for i, a in enumerate(args):
        (paths if not a.startswith("-") and (i == 0 or args[i - 1] not in VALUE_OPTIONS) else options).append(a)
    return options, paths


def _statement(tree: ast.Module, line: int) -> tuple[range, bool]:
    """The lines of the innermost statement holding `line` (for a compound statement whose
    header holds it, the header's lines; decorators belong to their definition), and whether it
    runs when the module is imported (it lies in no function: module or class level, a `def`
    line with its defaults and decorators included). Coverage alone cannot tell the latter: a
    module first imported inside a test runs its top level in that test's context."""
    best = None

    def visit(node: ast.AST, in_function: bool) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt) and child.lineno <= line <= child.end_lineno:
                first = min([child.lineno] + [d.lineno for d in getattr(child, "decorator_list", [])])
                last = child.end_lineno
                body = getattr(child, "body", None)
                if body and line < body[0].lineno:
                    last = body[0].lineno - 1
                if best is None or last - first <= best[1] - best[0]:
                    best = (first, last, not in_function)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    if best is None:
        return range(line, line + 1), True
    return range(best[0], best[1] + 1), best[2]


def changed_lines(cwd: str) -> dict[str, set[int]]:
    """Files of the copy that differ from `.pristine/` (run.sh's copy of the unmutated
    packages): repository-relative path -> the changed line numbers of the pristine file."""
    pristine = os.path.join(cwd, ".pristine")
    out: dict[str, set[int]] = {}
    for base, _dirs, files in os.walk(pristine):
        for name in files:
            if not name.endswith(".py"):
                continue
            old_path = os.path.join(base, name)
            rel = os.path.relpath(old_path, pristine)
            with open(old_path, "rb") as f:
                old = f.read()
            try:
                with open(os.path.join(cwd, rel), "rb") as f:
                    new = f.read()
            except FileNotFoundError:
                new = b""
            if old == new:
                continue
            a, b = old.decode().splitlines(), new.decode().splitlines()
            lines: set[int] = set()
            for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
                if tag != "equal":
                    lines.update(range(i1 + 1, max(i2, i1 + 1) + 1))
            out[rel] = lines
    return out


def tests_for_mutant(cwd: str, args: list[str]) -> list[str] | None:
    """The pytest arguments for the mutant in `cwd`, or None where no test can tell it apart.

    - no file differs from `.pristine/` (cosmic-ray's baseline): every test of `args`;
    - the mutant changes function annotations only (strings under `from __future__ import
      annotations`: mutation/annotations.py's rule): None;
    - the mutated statement runs inside tests: the tests that executed it;
    - it runs when its module is imported (a definition, a default, a decorator, a constant):
      the tests that executed any line of its file, since any of them may read what it defines,
      and the suite's fastest tests besides (each group within the budget: a dataclass's
      generated methods, for one, are not lines of its file);
    - no test executed it: None;
    and of those tests the fastest that fit in FORKSERVER_BUDGET seconds (default 10) of the
    map's times.
    """
    options, _paths = _split(args)
    changed = changed_lines(cwd)
    if not changed:
        return args
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    from annotations import only_annotations

    tests: set[int] = set()
    imported = False
    for rel, lines in changed.items():
        by_line = MAP["lines"].get(rel, {})
        with open(os.path.join(cwd, ".pristine", rel), encoding="utf-8") as f:
            source = f.read()
        with open(os.path.join(cwd, rel), encoding="utf-8") as f:
            if only_annotations(source, f.read()):
                continue
        tree = ast.parse(source)
        found: set[int] = set()
        at_import = False
        for line in lines:
            span, top_level = _statement(tree, line)
            at_import |= top_level
            for n in span:
                found.update(by_line.get(str(n), ()))
        if at_import or -1 in found:  # import time: every test that ran code of this file
            found = {i for ids in by_line.values() for i in ids if i != -1}
            imported = True
        tests |= found
    if not tests and not imported:
        return None
    # fastest first, within the budget (at least one test): a mutant that the quick tests of its
    # statement do not kill is rarely killed by its slow ones, and the slow ones (training runs)
    # would make a survivor cost minutes; what the budget leaves out can only lower the score
    budget = float(os.environ.get("FORKSERVER_BUDGET", "10"))
    chosen = _fastest((MAP["tests"][i] for i in tests), budget)
    if imported:  # what it defines may be used by tests that run none of its file's lines (a
        # dataclass's generated methods are not the file's): the suite's fastest tests too
        chosen += _fastest((n for n in MAP["tests"] if n not in set(chosen)), budget)
    return options + chosen


def _fastest(names, budget: float) -> list[str]:
    """The quickest of `names` (by the map's times) that fit in `budget` seconds, at least one."""
    chosen, spent = [], 0.0
    for name in sorted(names, key=lambda n: (SECONDS.get(n, 0.0), n)):
        if chosen and spent + SECONDS.get(name, 0.0) > budget:
            break
        chosen.append(name)
        spent += SECONDS.get(name, 0.0)
    return chosen


def _child(request: dict, fds: list[int]) -> None:
    """In the forked child: the client's output, the copy's alexspec, pytest; never returns."""
    status = 4
    try:
        os.setsid()
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        os.chdir(request["cwd"])
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
        import pytest_in

        args = [a for a in request["args"] if not a.startswith("--select=")]
        if MAP:
            args = tests_for_mutant(request["cwd"], args)
            print(f"forkserver: {len(_split(args)[1]) if args else 0} test(s) chosen", file=sys.stderr, flush=True)
            if args is None:
                print("forkserver: no test can tell this mutant apart (see tests_for_mutant)", file=sys.stderr)
                status = 0
                return
        status = pytest_in.main([request["root"], *args], plugins=[FastFirst(SECONDS)])
    except BaseException as exc:  # noqa: BLE001 - the status says what happened, the child exits here
        status = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 4
        if not isinstance(exc, SystemExit):
            import traceback

            traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _wait(pid: int, conn: socket.socket, timeout: float) -> int:
    """The child's exit status; kill its group if the client hangs up or the time runs out."""
    end = time.monotonic() + timeout
    while True:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(raw) % 256
        readable, _, _ = select.select([conn], [], [], 0.02)
        gone = readable and not conn.recv(1, socket.MSG_PEEK)
        if gone or time.monotonic() > end:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return TIMEOUT_STATUS


def _serve_one(conn: socket.socket, timeout: float) -> None:
    request, fds = _recv_request(conn)
    pid = os.fork()
    if pid == 0:
        conn.close()
        _child(request, fds)
    for fd in fds:
        os.close(fd)
    start = time.monotonic()
    status = _wait(pid, conn, timeout)
    print(f"forkserver: exit {status} in {time.monotonic() - start:.1f} s", file=sys.stderr, flush=True)
    try:
        conn.sendall(f"{status}\n".encode())
    except OSError:
        pass  # the client is gone (its own timeout)


def _project_files(roots: list[str]) -> callable:
    roots = [os.path.realpath(r) + os.sep for r in roots]

    def ours(name: str, module) -> bool:
        top = name.split(".")[0]
        if top in ("alexspec", "tests", "conftest", "__main__", "__mp_main__", "pytest_in") or top.startswith("test_"):
            return True
        file = getattr(module, "__file__", None)
        return bool(file) and any(os.path.realpath(file).startswith(r) for r in roots)

    return ours


SECONDS: dict[str, float] = {}  # each test's time in the warm-up


def _warm_up(root: str, args: list[str]) -> list[str]:
    """Run the tests once in a child; the names of the modules it imported that are not ours."""
    here = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        status, timing = 4, FastFirst()
        try:
            sys.path.insert(0, os.path.join(here, "scripts"))
            import pytest_in

            timing = FastFirst()
            status = pytest_in.main([root, *args], plugins=[timing])
        finally:
            ours = _project_files([root, here])
            names = [n for n, m in list(sys.modules.items()) if m is not None and not ours(n, m)]
            with os.fdopen(write, "w") as out:
                json.dump({"status": status, "modules": names, "seconds": timing.took}, out)
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as inp:
        got = json.load(inp)
    os.waitpid(pid, 0)
    print(f"forkserver: warm-up tests exited {got['status']} in {sum(got['seconds'].values()):.1f} s, "
          f"{len(got['modules'])} modules to preload", file=sys.stderr)
    SECONDS.update(got["seconds"])
    return got["modules"]


def _load_map(path: str, root: str) -> list[str]:
    """Load the coverage map into MAP (refused unless it is of this copy's code and tests); the
    modules to preload."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    from coverage_map import source_hash
    from pathlib import Path

    with open(path, encoding="utf-8") as f:
        MAP.update(json.load(f))
    got = source_hash(Path(root) / ".pristine", Path(root))
    if got != MAP["source_hash"]:
        raise SystemExit(f"forkserver: {path} is a map of other code or tests (hash {MAP['source_hash'][:12]}, "
                         f"the copy's {got[:12]}): rebuild it with mutation/coverage_map.py")
    SECONDS.update(MAP["seconds"])
    print(f"forkserver: {path}: {len(MAP['tests'])} tests, {len(MAP['modules'])} modules to preload",
          file=sys.stderr)
    return MAP["modules"]


def serve(sock_path: str, root: str, args: list[str], timeout: float) -> None:
    """Preload, then serve test runs on `sock_path` one at a time until killed."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # pytest caches the assertion-rewritten tests as .pyc (the tests are never mutated); no .pyc
    # of a mutant is ever read or written: scripts/pytest_in.py compiles the copy from source.
    sys.dont_write_bytecode = False
    import importlib

    start = time.monotonic()
    if args and args[0].startswith("--select="):
        names = _load_map(args[0].split("=", 1)[1], root)
    else:
        names = _warm_up(root, args)
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module that imports only inside its package's context
            pass
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
    import pytest_in
    from pathlib import Path

    compiled = pytest_in.precompile(Path(root).resolve())  # each child recompiles only the mutant
    print(f"forkserver: ready in {time.monotonic() - start:.1f} s on {sock_path} ({compiled} modules "
          "compiled)", file=sys.stderr)
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(4)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            conn, _ = server.accept()
            with conn:
                try:
                    _serve_one(conn, timeout)
                except (ConnectionError, OSError, ValueError) as exc:
                    print(f"forkserver: bad request: {exc}", file=sys.stderr)
    finally:
        server.close()
        os.unlink(sock_path)


FAILED_MARK = ".forkserver.failed"


def _failed() -> int:
    """No answer from the server: cosmic-ray would count the exit status as a kill, so leave a
    mark that makes run.sh refuse the report."""
    with open(FAILED_MARK, "a") as f:
        f.write("the fork server did not answer\n")
    return 5


def run(sock_path: str, args: list[str]) -> int:
    """Have the server run pytest on `args` in this directory; its exit status."""
    request = {"cwd": os.getcwd(), "root": ".", "args": args}
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(sock_path)
    except OSError as exc:
        print(f"forkserver: no server on {sock_path} ({exc}): start it with mutation/run.sh", file=sys.stderr)
        return _failed()
    sys.stdout.flush()
    socket.send_fds(client, [json.dumps(request).encode() + b"\n"], [1, 2])
    reply = b""
    while not reply.endswith(b"\n"):
        part = client.recv(64)
        if not part:
            print("forkserver: the server hung up", file=sys.stderr)
            return _failed()
        reply += part
    return int(reply)


def main(argv: list[str]) -> int:
    if argv[:1] == ["run"] and len(argv) >= 2:
        return run(argv[1], argv[2:])
    if argv[:1] == ["serve"] and len(argv) >= 3:
        timeout = float(os.environ.get("FORKSERVER_TIMEOUT", "120"))
        serve(argv[1], argv[2], argv[3:], timeout)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
