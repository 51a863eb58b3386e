#!/usr/bin/env bash
# Set up a fresh Debian machine for alexspec: graphviz's `dot`, the embedded Fashion-MNIST data
# set, and a virtual environment (.venv) with the package, CPU torch 2.13.0 and the test tools.
# Safe to run again: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
# Figure 2's font (Arial) is Liberation Sans on Linux: its legibility test measures with it.
fc-list 2>/dev/null | grep -q "Liberation Sans" || missing+=(fonts-liberation2)
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if ! .venv/bin/python -c "import alexspec, torch, pytest, hypothesis" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .venv/.alexspec-installed ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    # torch is pinned exactly (2.13.0): that takes the local CPU wheel, never a CUDA build.
    .venv/bin/python -m pip install -q -e ".[test]"
    touch .venv/.alexspec-installed
fi
