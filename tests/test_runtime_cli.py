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


def test_a_cost_without_classes_reports_its_value_not_an_error_rate(tmp_path, capsys):
    # cost.sum2's hit counts are 0 (Cost.classifies False): no "error 100%" anywhere, the cost instead
    import json
    import math

    from alexspec.cli import main
    from tests.test_runtime_helpers import TINY_SPEC

    text = TINY_SPEC.format(eps="0.01")
    text = (text[:text.index("[probs]")].replace("[labels]\ntype=data\ndataIdx=1\n", "")
            + "[cost]\ntype=cost.sum2\ninputs=fc4\ncoeff=0.5\n")
    spec = tmp_path / "sum2.cfg"
    spec.write_text(text)
    data, out = write_fashion_like(tmp_path / "data", 64, 32), tmp_path / "r"
    assert main(["run", str(spec), "--gpu", "cpu", "--data", str(data), "--max-batches", "3",
                 "--log-every", "1", "--test-subset", "16", "--save-path", str(out)]) == 0
    run = capsys.readouterr().out
    assert "step 1/3 epoch 1: cost " in run and "test at step 3 (0.75 epochs): cost " in run
    assert "done: 3 steps; validation cost " in run
    assert main(["test", str(out), "--data", str(data), "--test-subset", "16"]) == 0
    test = capsys.readouterr().out
    assert "  cost " in test and "no error rates" in test
    for shown in (run, test):
        assert "error" not in shown.replace("no error rates", "") and "top1" not in shown, shown
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["kind"] for x in records] == ["train"] * 3 + ["test"]
    assert all(math.isnan(x["top1"]) and math.isnan(x["top5"]) and x["loss"] > 0 for x in records)
    assert (out / "cost.png").stat().st_size > 0
    # the validation cost is sum2's (as printed and recorded), the same in run and test
    assert math.isclose(float(run.split("validation cost ")[1].split()[0]), records[-1]["loss"], rel_tol=1e-3)
    assert float(test.split("  cost ")[1].split()[0]) == float(run.split("validation cost ")[1].split()[0])
