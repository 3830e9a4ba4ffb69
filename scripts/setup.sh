#!/usr/bin/env bash
# Set up thematic in ./.venv. Used by the README's commands and by .ci/run, so both stay true.
#
#   TORCH_SPEC   which torch to install first (default torch==2.13.0). Install torch BEFORE the rest:
#                otherwise pip resolves sentence-transformers' torch dependency to a multi-GB CUDA build.
#   TORCH_INDEX  extra index for torch, e.g. https://download.pytorch.org/whl/cpu for a CPU-only build
#                on a machine where PyPI's default torch is the CUDA one.
#   EXTRAS       pip extras to install with the package (default: none; tests use "test").
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
  if [ -n "${TORCH_INDEX:-}" ]; then
    pip install --quiet "${TORCH_SPEC:-torch==2.13.0}" --index-url "$TORCH_INDEX"
  else
    pip install --quiet "${TORCH_SPEC:-torch==2.13.0}"
  fi
fi
if [ -n "${EXTRAS:-}" ]; then
  pip install --quiet -e ".[${EXTRAS}]"
else
  pip install --quiet -e .
fi
echo "thematic installed in $(pwd)/.venv" >&2
