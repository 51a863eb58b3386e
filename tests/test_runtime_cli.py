"""`alexspec run` / `alexspec test` from the command line: messages and exit codes."""

from __future__ import annotations

import pytest

from tests.test_runtime_helpers import cli, write_fashion_like, write_spec


def test_missing_dataset_message(tmp_path):
    spec = write_spec(tmp_path)
    r = cli("run", str(spec), "--gpu", "cpu", "--data", str(tmp_path / "nowhere"), "--save-path", str(tmp_path / "r"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "no such data directory" in r.stderr and "dataset-fashion-mnist" in r.stderr


@pytest.mark.slow
def test_run_then_test_on_the_checkpoint(tmp_path):
    spec = write_spec(tmp_path)
    data = write_fashion_like(tmp_path / "data")
    out = tmp_path / "r"
    r = cli("run", str(spec), "--gpu", "cpu", "--data", str(data), "--epochs", "3", "--save-path", str(out))
    assert r.returncode == 0, r.stderr
    assert "fashion-mnist from" in r.stderr and "256 training" in r.stderr  # what data it uses
    assert "devices:" in r.stderr and "minibatch 16" in r.stderr
    assert "test at step 48" in r.stdout
    run_err = float(r.stdout.split("done: 48 steps; validation top-1 error ")[1].split("%")[0])
    t = cli("test", str(out), "--data", str(data))
    assert t.returncode == 0, t.stderr
    err = float(t.stdout.split("top-1 error ")[1].split("%")[0])
    assert err == run_err  # same weights, same centre crops
    m = cli("test", str(out), "--data", str(data), "--multiview")
    assert m.returncode == 0 and "the ten views" in m.stdout
