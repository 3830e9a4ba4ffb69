"""Render time of each workspace page after the first load, in headless Chromium.

Runs the real-browser test (tests/test_browser.py: Streamlit on 127.0.0.1, Playwright driving the
system Chromium over the demo project), which writes test-artifacts/page_times.json, and reports
those figures against the 2-second budget.

    python benchmarks/page_speed.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 2.0


def main() -> None:
    out = ROOT / "test-artifacts" / "page_times.json"
    out.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "test_browser.py")], cwd=ROOT, capture_output=True, text=True)
    log(proc.stdout[-2000:])
    if not out.exists():
        raise SystemExit(f"the browser test did not produce {out} (exit {proc.returncode})")
    data = json.loads(out.read_text())
    times = data["seconds_after_first_load"]
    emit({"benchmark": "page_speed", "seconds_after_first_load": times, "budget_s": BUDGET_S,
          "slowest": max(times.values()), "within_budget": all(v < BUDGET_S for v in times.values()),
          "project": data.get("project"), "test_exit_code": proc.returncode})


if __name__ == "__main__":
    main()
