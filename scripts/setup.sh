#!/usr/bin/env bash
# Set up archive-qa in ./.venv on a fresh machine: the CPU torch wheel first (any looser
# torch spec pulls a multi-GB CUDA build), then the package with its extras.
# Usage: bash scripts/setup.sh [EXTRAS]   e.g. bash scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! python -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null; then
  pip install --quiet torch==2.13.0
fi
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
pip install --quiet -e "$spec"
python scripts/get_archive.py
