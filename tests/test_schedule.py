"""Training progress (cuda-convnet2's definition) and the paper's plateau policy."""

from __future__ import annotations

from alexspec.ir import Schedule
from alexspec.runtime.schedule import PlateauPolicy, progress


def test_progress_is_steps_done_over_steps_in_run():
    assert progress(0, 100) == 0.0
    assert progress(50, 100) == 0.5
    assert progress(99, 100) == 0.99
    assert progress(500, 100) == 1.0
    s = Schedule(kind="linear", base=0.1, tgt_factor=10)
    assert abs(s.at(progress(50, 100)) - (0.1 * 0.5 + 0.01 * 0.5)) < 1e-15


def test_plateau_divides_when_error_stops_improving_three_times_at_most():
    p = PlateauPolicy(max_drops=3, patience=1)  # one epoch without improvement
    errors = [0.5, 0.4, 0.3, 0.31, 0.29, 0.29, 0.2, 0.25, 0.24, 0.5, 0.6]
    drops = []
    for epoch, e in enumerate(errors, 1):
        p.observe(e, float(epoch))
        drops.append(p.drops)
    assert drops == [0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 3]
    eps = Schedule(kind="plateau", base=0.01, factor=10, max_drops=3)
    assert [eps.at(0.0, d) for d in (0, 1, 2, 3, 4)] == [0.01, 0.01 / 10, 0.01 / 100, 0.01 / 1000, 0.01 / 1000]


def test_patience_counts_epochs_so_frequent_tests_cannot_spend_the_drops_early():
    """What was seen: patience fixed at one test, so a run testing often spent its three
    drops in the first epochs."""
    p = PlateauPolicy(max_drops=3)  # the default: 3 epochs
    for k in range(1, 101):  # 100 tests in the first epoch, none improving after the first
        p.observe(0.5, k / 100)
    assert p.drops == 0
    for epoch in (2.0, 3.0, 4.0):
        p.observe(0.5, epoch)
    assert p.drops == 1 and p.since == 4.0  # 3 epochs after the best (0.01)


def test_threshold_and_state_roundtrip():
    p = PlateauPolicy(max_drops=3, patience=2, threshold=0.05)
    p.observe(0.5, 1.0)
    p.observe(0.47, 2.0)  # not better by more than 0.05
    assert p.observe(0.46, 3.0) and p.drops == 1
    q = PlateauPolicy(max_drops=3, patience=2, threshold=0.05)
    q.restore(p.state())
    assert q == p
    assert q.observe(0.46, 5.0) and q.drops == 2
