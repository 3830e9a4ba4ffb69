#!/usr/bin/env bash
# Build the wheel and prove that `pip install thematic-assistant` gives a working `thematic app`:
# every module of the checkout is in the wheel, and the installed workspace starts, serves its page
# and renders every page, with nothing of the checkout on the path.
#
# How the fresh environment stays honest and quick: a new venv WITHOUT system site-packages gets
# only the wheel (`--no-deps`). Its dependencies (torch, streamlit, ...) would take minutes to
# install again, so the venv sees the CI venv's site-packages through a plain path line in a .pth
# file. A path line only appends the directory to sys.path; the .pth files inside it are NOT run,
# so the editable install's finder (an `__editable__*.pth` hook that maps `assistant`, `app_pages`
# and `index` to this checkout) stays inactive, and the checkout has no importable packages at
# the top of that directory. The script then checks that assistant, app_pages and index are
# imported from the new venv, and runs everything from an empty directory outside the checkout
# (Streamlit reads .streamlit/config.toml from the current directory: the wheel must not need it).
#
#   usage: bash scripts/check_wheel.sh   (from the CI venv; PYTHON overrides the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PY="${PYTHON:-python}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/thematic-wheel.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "check_wheel: building the wheel" >&2
# from a clean copy of the working tree: setuptools keeps a build/ directory whose stale files
# would end up in the wheel, and the checkout must not be written to. When the CI venv has
# setuptools and wheel, no isolated build environment is downloaded.
mkdir "$WORK/src"
tar -C "$ROOT" -cf - --exclude=./.venv --exclude=./.git --exclude=./build --exclude=./dist \
  --exclude=./test-artifacts --exclude='*.egg-info' --exclude=__pycache__ --exclude=.ruff_cache \
  --exclude=.hypothesis --exclude=.import_linter_cache --exclude=./demo-project . | tar -C "$WORK/src" -xf -
ISOLATION=--no-build-isolation  # unless the CI venv lacks what pyproject's [build-system] asks for
"$PY" -c 'import setuptools, wheel; assert int(setuptools.__version__.split(".")[0]) >= 77' 2>/dev/null || ISOLATION=""
"$PY" -m pip wheel --quiet --no-deps $ISOLATION "$WORK/src" -w "$WORK/dist"
WHEEL="$(ls "$WORK"/dist/thematic_assistant-*.whl)"

echo "check_wheel: installing $(basename "$WHEEL") into a fresh venv" >&2
"$PY" -m venv --without-pip "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$PY" -m pip --python "$VPY" install --quiet --no-deps --no-compile "$WHEEL"
DEPS="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
VSITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$DEPS" > "$VSITE/zz-ci-dependencies.pth"  # dependencies only; see the comment at the top

mkdir -p "$WORK/run" && cd "$WORK/run"  # nothing of the checkout in the current directory
export PYTHONPATH="" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 THEMATIC_FAKE_EMBEDDER=1 THEMATIC_ANALYST=wheel-check
unset THEMATIC_PROJECT

echo "check_wheel: every module of the checkout is in the wheel, imported from the venv" >&2
"$VPY" - "$ROOT" "$VSITE" <<'EOF'
import importlib, sys
from pathlib import Path

root, site = Path(sys.argv[1]), Path(sys.argv[2])
for name in ("assistant", "app_pages", "index"):
    mod = importlib.import_module(name)
    assert Path(mod.__file__).resolve().is_relative_to(site.resolve()), f"{name} imported from {mod.__file__}"
missing = [str(p.relative_to(root)) for pkg in ("assistant", "app_pages", "index") for p in (root / pkg).rglob("*.py")
           if "__pycache__" not in p.parts and not (site / p.relative_to(root)).is_file()]
prompts = [p.name for p in (root / "prompts").iterdir() if p.suffix in (".md", ".yaml")
           and not (site / "assistant" / "prompt_templates" / p.name).is_file()]
assert not missing and not prompts, f"not in the wheel: {missing + prompts} (list the package in pyproject.toml)"
assert (site / "app_pages" / "workspace.py").is_file()
print("check_wheel: wheel complete")
EOF

"$WORK/venv/bin/thematic" init "$WORK/project" >/dev/null

echo "check_wheel: every page of the installed workspace renders" >&2
THEMATIC_PROJECT="$WORK/project" "$VPY" - "$VSITE" <<'EOF'
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

app = Path(sys.argv[1]) / "app_pages" / "workspace.py"
at = AppTest.from_file(str(app), default_timeout=120)
at.run()
for page in ("corpus.py", "coding.py", "quotes.py", "themes.py", "ask.py", "agreement.py", "settings.py"):
    at.switch_page(page).run()
    assert not at.exception, (page, [e.message for e in at.exception])
    assert at.header, f"{page}: no heading"
print("check_wheel: 7 pages rendered")
EOF

PORT="$("$VPY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
echo "check_wheel: thematic app on 127.0.0.1:$PORT" >&2
"$WORK/venv/bin/thematic" app --project "$WORK/project" --port "$PORT" >"$WORK/app.log" 2>&1 &
SERVER_PID=$!
"$VPY" - "$PORT" <<'EOF' || { cat "$WORK/app.log" >&2; exit 1; }
import sys, time, urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}"
deadline = time.time() + 90
while True:
    try:
        with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
            assert r.status == 200 and r.read().strip() == b"ok"
        break
    except OSError:
        if time.time() > deadline:
            raise SystemExit("check_wheel: the workspace did not answer /_stcore/health within 90 s")
        time.sleep(0.5)
with urllib.request.urlopen(base + "/", timeout=5) as r:
    assert r.status == 200 and b"<html" in r.read().lower(), "no page at /"
print("check_wheel: / and /_stcore/health answer 200")
EOF
echo "check_wheel: ok" >&2
