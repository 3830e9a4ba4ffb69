"""The Validate page in a real browser: draw a sample, code one excerpt as "no code applies",
run the engine on the sample and read the per-code report; no request leaves 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path

from builders import build_coding_project
from test_browser import _guard, _launch, _needs_browser, _serve, _settled

from assistant.project import Project

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - _needs_browser skips
    sync_playwright = None  # type: ignore[assignment]


def test_validate_page_end_to_end(tmp_path: Path) -> None:
    _needs_browser()
    project = build_coding_project(tmp_path)
    project.set_analyst("browser-tester")
    folder = project.folder
    project.close()
    with _serve(folder, tmp_path) as url, sync_playwright() as pw:
        browser = _launch(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        leaks = _guard(page, url)
        page.goto(url + "/validate", wait_until="domcontentloaded")
        _settled(page, "Validate")
        page.get_by_role("button", name="Draw sample").click()
        _settled(page, "Validate")
        expect(page.get_by_text("sample excerpts coded").first).to_be_visible(timeout=30_000)
        with Project.open(folder) as p:
            (v,) = p.store.list_validations()
            items = p.store.validation_items(v["id"])
        assert len(items) >= 2
        page.get_by_text("No code applies").first.click()
        _settled(page, "Validate")
        page.get_by_role("button", name="Save").first.click()
        _settled(page, "Validate")
        deadline = time.time() + 30
        while time.time() < deadline:
            with Project.open(folder) as p:
                marked = [i for i in p.store.validation_items(v["id"]) if i["no_code"]]
            if marked:
                break
            time.sleep(0.5)
        assert len(marked) == 1
        with Project.open(folder) as p:
            from assistant.coding.validation import mark_no_code

            mark_no_code(p, v["id"], [i["excerpt_id"] for i in items])  # the rest, as the analyst would
        page.reload(wait_until="domcontentloaded")
        _settled(page, "Validate")
        page.get_by_role("tab", name="Report").click()
        page.get_by_role("button", name="Run the engine on the sample").click()
        _settled(page, "Validate", timeout=120_000)
        page.get_by_role("tab", name="Report").click()
        expect(page.get_by_text("were not assessed").first).to_be_visible(timeout=60_000)
        expect(page.get_by_role("button", name="Accept: gate batch runs by this report")).to_be_visible()
        with Project.open(folder) as p:
            saved = p.store.get_validation(v["id"])
            assert saved["status"] == "run"
            # as an LLM run's report: the offline engine on the same sample, which agreed more
            rep = saved["report"] | {"engine": "llm", "baseline": {
                "engine": "offline", "model": "m", "summary": {"mean_kappa": 0.61, "mean_ac1": 0.9, "passes": 2},
                "engine_below_offline": True, "advice": "the offline engine agreed more with the analyst on this "
                                                        "sample (mean kappa 0.61 against 0.20): batch-code with it"}}
            for r in rep["codes"]:
                r["offline_kappa"] = 0.61
            p.store.save_validation_report(v["id"], "llm", "m", saved["bar"], rep)
        page.reload(wait_until="domcontentloaded")
        _settled(page, "Validate")
        page.get_by_role("tab", name="Report").click()
        expect(page.get_by_text("the offline engine agreed more with the analyst").first).to_be_visible(timeout=30_000)
        expect(page.get_by_text("The offline engine on the same sample: mean kappa 0.61").first).to_be_visible()
        chooser = page.locator("[data-testid='stSelectbox']").filter(has_text="Validation").first
        expect(chooser).to_be_visible()
        shown = chooser.evaluate(
            "el => el.innerText + ' ' + [...el.querySelectorAll('input')].map(i => i.value).join(' ')")
        assert f"Validation {v['id']} · run · " in shown and "\\" not in shown, shown  # shown as written
        page.wait_for_timeout(1500)  # the table is drawn on a canvas after the page settles
        page.screenshot(path=str(tmp_path / "validate-baseline.png"), full_page=True)
        assert leaks == []
        browser.close()
