"""Tests are single-threaded and seeded: 2-core CI machines thrash with more threads."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread_and_seeded():
    try:
        import torch
    except ImportError:  # front-end tests do not need torch
        yield
        return
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
