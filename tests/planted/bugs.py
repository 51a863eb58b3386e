"""The bugs issue 12 planted, one at a time, and the tests that must catch each.

Each entry replaces `old` (which must occur exactly once in `file`) by `new`. `catch` are the
test node ids that must FAIL with the bug applied (every one of them) and pass without it;
`missed_by` names the older tests that passed with the bug (why the issue was filed).
`scripts/planted.py` applies each entry to a copy of the repository and checks this; the fast
test `tests/test_planted_list.py` checks that every `old` still occurs once, so a refactor that
moves the code makes the entry be updated rather than silently test nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

T = "tests/test_planted_bugs.py::"


@dataclass(frozen=True)
class Bug:
    """One planted bug: a one-place text replacement and the tests that catch it."""

    id: str
    file: str
    old: str
    new: str
    catch: tuple[str, ...]
    missed_by: tuple[str, ...] = ()


BUGS: tuple[Bug, ...] = (
    Bug("pickle-runs-code", "runtime/checkpoint.py",
        'obj = torch.load(path, map_location="cpu", weights_only=True)',
        'obj = torch.load(path, map_location="cpu", weights_only=False)',
        (T + "test_a_checkpoint_holding_code_is_refused_without_running_it",),
        ("tests/test_checkpoint.py::test_code_in_a_checkpoint_is_refused",)),
    Bug("no-did-you-mean", "alexspec/validate.py",
        'hint = f"did you mean {fields[near].key!r}? " if near else ""',
        'hint = ""',
        (T + "test_the_did_you_mean_names_the_nearest_key",),
        ("tests/test_bad_specs.py::test_diagnostics_carry_a_did_you_mean",)),
    Bug("eltmax-sums", "compiler/layers/simple.py",
        "y = torch.maximum(y, x)",
        "y = y + x",
        (T + "test_eltmax_is_the_elementwise_max_and_eltsum_the_weighted_sum",),
        ("tests/test_compiler.py::test_every_ir_type_is_lowered_or_refused_with_a_location",)),
    Bug("transfer-fast-path-stays", "compiler/transfer.py",
        "        return y\n    return x.to(device)\n",
        "        return y\n    return x\n",
        (T + "test_the_fast_transfer_moves_the_tensor_to_the_destination",
         T + "test_every_crossing_goes_to_the_consumers_device")),
    Bug("backward-transfer-logged-swapped", "compiler/transfer.py",
        '_record("bwd", dst, src, tag, g)',
        '_record("bwd", src, dst, tag, g)',
        (T + "test_backward_transfers_are_logged_from_the_consumer_back_to_the_producer",),
        ("tests/test_lowering.py::test_c_transfers_forward_and_backward_equal_cross_gpu_edges",)),
    Bug("ten-views-first-only", "runtime/evaluate.py",
        "probs = torch.stack([F.softmax(o.float(), dim=1) for o in outs]).mean(0).cpu()",
        "probs = F.softmax(outs[0].float(), dim=1).cpu()",
        (T + "test_ten_view_scores_equal_the_average_over_explicit_crops_and_flips",),
        ("tests/test_runtime_cli.py",)),
    Bug("no-fsync-before-rename", "runtime/checkpoint.py",
        "            os.fsync(f.fileno())\n",
        "",
        (T + "test_the_checkpoint_is_fsynced_before_the_rename_and_the_directory_after",)),
    Bug("no-directory-fsync", "runtime/checkpoint.py",
        "    _fsync_dir(path.parent)\n\n\ndef remove_temporaries",
        "\n\ndef remove_temporaries",
        (T + "test_the_checkpoint_is_fsynced_before_the_rename_and_the_directory_after",)),
    Bug("check-table-macs-are-params", "alexspec/report.py",
        'f"{n.macs:,}" if n.macs else ""',
        'f"{n.params:,}" if n.params else ""',
        (T + "test_check_prints_the_local_layers_rows_with_their_counts",),
        ("tests/test_report.py::test_cli_check_with_layer_params_subprocess",)),
    Bug("auto-devices-without-reason", "compiler/parallel/devices.py",
        'return out, summary(out, f"auto, {why}")',
        'return out, summary(out, "auto")',
        (T + "test_auto_devices_message_whole",),
        ("tests/test_compiler.py::test_auto_devices_say_what_they_chose",)),
    Bug("restored-mean-dropped", "runtime/restore.py",
        "    c.stats, c.data.name",
        "    DataStats(c.stats.mean * 0, c.stats.eigvec, c.stats.eigval), c.data.name",
        (T + "test_predictions_top5_equal_an_independent_centre_crop",),
        ("tests/test_show.py::test_predictions_top5_of_the_model",)),
)
