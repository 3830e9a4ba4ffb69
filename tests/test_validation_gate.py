"""The validation gate: a stratified seeded sample coded blind, the engine scored on it without
learning from it, bootstrap intervals, and the gate on batch runs (exclusion, flags, audit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builders import INTERVIEWER, add_turns_source, build_coding_project

from assistant.coding import decisions
from assistant.coding import validation as va
from assistant.coding.agreement import cohen_kappa, gwet_ac1, prf
from assistant.coding.blind import blind_sources
from assistant.coding.precode import precode
from assistant.coding.suggest import accepted_examples
from assistant.errors import ThematicError


@pytest.fixture
def project(tmp_path: Path):
    p = build_coding_project(tmp_path)
    more = {
        "P03": [(INTERVIEWER, "Tell me about housing."),
                ("Ann Lee", "Mould and damp in the flat made my son's asthma worse every winter."),
                (INTERVIEWER, "And the staff?"),
                ("Ann Lee", "The ward was short of nurses and agency staff covered most shifts."),
                ("Ann Lee", "Our grant is for one year only so we cannot plan ahead.")],
        "P04": [(INTERVIEWER, "What do you see?"),
                ("Raj Patel", "Older people ring the ambulance again and again because they are lonely."),
                (INTERVIEWER, "Funding?"),
                ("Raj Patel", "Money comes in twelve month pots, so projects stop when it runs out.")],
    }
    for name, turns in more.items():
        add_turns_source(p, name, turns, {"participant": turns[1][0]})
    yield p
    p.close()


# --- sampling ------------------------------------------------------------------------------------


def test_stratified_sample_spreads_over_strata_and_is_seeded() -> None:
    strata = {"A": list(range(50)), "B": list(range(50, 60)), "C": [60, 61], "D": [70]}
    s = va.stratified_sample(strata, 12, seed=3)
    assert len(s) == len(set(s)) == 12
    got = {k: sum(i in v for i in s) for k, v in strata.items()}
    assert all(n >= 1 for n in got.values())  # every stratum before any gets two
    assert got["A"] > got["B"] > 0  # the rest in proportion to size
    assert s == va.stratified_sample(strata, 12, seed=3)
    assert s != va.stratified_sample(strata, 12, seed=4)
    few = va.stratified_sample(strata, 2, seed=1)  # fewer than the strata: one each from two strata
    assert len(few) == 2 and len({k for k, v in strata.items() for i in few if i in v}) == 2
    assert sorted(va.stratified_sample(strata, 500, seed=0)) == sorted(i for v in strata.values() for i in v)


def test_draw_sample_starts_blind_coding_and_skips_interviewer(project) -> None:
    vid = va.draw_sample(project, size=5, seed=1)
    items = project.store.validation_items(vid)
    assert len(items) == 5
    exs = {e.id: e for e in project.store.list_excerpts()}
    assert not any(exs[i["excerpt_id"]].is_interviewer for i in items)
    assert len({i["source_id"] for i in items}) >= 3  # spread over sources
    assert blind_sources(project, "alice") == {i["source_id"] for i in items}
    actions = [a.action for a in project.store.list_audit()]
    assert actions[-2:] == ["blind.start", "validation.sample"]
    with pytest.raises(ThematicError):
        va.draw_sample(project, size=1)


# --- statistics ----------------------------------------------------------------------------------


def test_closed_forms_match_agreement_functions_and_intervals_cover_the_point() -> None:
    rng = np.random.default_rng(0)
    h = rng.random((60, 3)) < [0.3, 0.1, 0.5]
    a = np.where(rng.random((60, 3)) < 0.8, h, ~h)
    for j in range(3):
        hh, aa = [bool(x) for x in h[:, j]], [bool(x) for x in a[:, j]]
        tp, fp = np.array([(h[:, j] & a[:, j]).sum()]), np.array([(~h[:, j] & a[:, j]).sum()])
        fn, tn = np.array([(h[:, j] & ~a[:, j]).sum()]), np.array([(~h[:, j] & ~a[:, j]).sum()])
        st = va._binary_stats(tp.astype(float), fp.astype(float), fn.astype(float), tn.astype(float))
        assert st["kappa"][0] == pytest.approx(cohen_kappa(hh, aa))
        assert st["ac1"][0] == pytest.approx(gwet_ac1(hh, aa, [False, True]))
        p, r, _ = prf(hh, aa)
        assert st["precision"][0] == pytest.approx(p) and st["recall"][0] == pytest.approx(r)
    rows = va.code_rows([_code(i) for i in range(3)], h, a, va.Bar(), seed=5, n_boot=500)
    for r in rows:
        assert r["kappa_low"] <= r["kappa"] <= r["kappa_high"]
        assert r["ac1_low"] <= r["ac1"] <= r["ac1_high"]
        assert r["kappa_high"] - r["kappa_low"] > 0.05  # 60 units: a real interval, not a point
    assert rows == va.code_rows([_code(i) for i in range(3)], h, a, va.Bar(), seed=5, n_boot=500)
    wide = va.code_rows([_code(0)], h[:12, :1], a[:12, :1], va.Bar(), seed=5, n_boot=500)[0]
    narrow = va.code_rows([_code(0)], np.tile(h[:12, :1], (8, 1)), np.tile(a[:12, :1], (8, 1)), va.Bar(),
                          seed=5, n_boot=500)[0]
    assert narrow["kappa_high"] - narrow["kappa_low"] < wide["kappa_high"] - wide["kappa_low"]


def _code(i: int):
    from assistant.models import StoredCode

    return StoredCode(id=i + 1, name=f"c{i}")


def test_verdicts_follow_the_bar() -> None:
    h = np.array([[1, 0], [1, 0], [0, 0], [0, 0], [1, 0], [0, 0]], bool)
    a = np.array([[1, 0], [1, 0], [0, 0], [1, 0], [1, 0], [0, 0]], bool)
    rows = va.code_rows([_code(0), _code(1)], h, a, va.Bar(metric="kappa", bound="point", minimum=0.5), n_boot=200)
    assert rows[0]["status"] == "passes" and rows[1]["status"] == "unassessed"
    rows = va.code_rows([_code(0), _code(1)], h, a, va.Bar(metric="precision", bound="point", minimum=0.9), n_boot=200)
    assert rows[0]["status"] == "below_bar"  # precision 3/4
    with pytest.raises(ThematicError):
        va.Bar(metric="accuracy")


# --- the whole flow ------------------------------------------------------------------------------


def _code_sample(project, vid: int) -> dict[int, str]:
    """Code every sample excerpt by keyword as an analyst would; the rest marked no-code."""
    rules = {"mould": "Housing and living conditions", "damp": "Housing and living conditions",
             "staff": "Workforce capacity", "nurses": "Workforce capacity", "grant": "Short-term funding",
             "funding": "Short-term funding", "twelve month": "Short-term funding", "ambulance": "Frequent attenders"}
    done: dict[int, str] = {}
    none = []
    for e in va.sample_excerpts(project, vid):
        hit = next((c for w, c in rules.items() if w in e.text.lower()), None)
        if hit:
            decisions.add_coding(project, e.source_id, e.start, e.end, hit)
            done[e.id] = hit
        else:
            none.append(e.id)
    if none:
        va.mark_no_code(project, vid, none)
    return done


def test_run_never_learns_from_the_sample_and_gates_precode(project, monkeypatch) -> None:
    # an analyst coding outside the sample, which the engine may learn from
    outside = next(e for e in project.store.list_excerpts() if "mould" in e.text and e.speaker == "Sarah Jones")
    vid = va.draw_sample(project, size=6, seed=2)
    sample_ids = {e.id for e in va.sample_excerpts(project, vid)}
    if outside.id not in sample_ids:
        decisions.add_coding(project, outside.source_id, outside.start, outside.end, "Housing and living conditions")
    coded = _code_sample(project, vid)
    assert coded
    assert not any(ex_id in sample_ids for exs in accepted_examples(project, frozenset(sample_ids)).values()
                   for ex_id, _ in exs)

    from assistant.coding.suggest.offline import OfflineScorer

    learned: list[str] = []
    real = OfflineScorer.learn

    def spy(self, texts, ids, labels):
        learned.extend(texts)
        return real(self, texts, ids, labels)

    monkeypatch.setattr(OfflineScorer, "learn", spy)
    report = va.run_validation(project, vid, va.Bar(minimum=1.01, action="exclude"), engine="offline", n_boot=200)
    sample_texts = {e.text for e in va.sample_excerpts(project, vid)}
    assert not sample_texts & set(learned)
    assert report["units"] == 6 and report["engine"] == "offline"
    assert not blind_sources(project, "alice")  # the blind periods ended with the run
    assert {r["status"] for r in report["codes"]} <= {"below_bar", "unassessed"}  # nothing reaches 1.01
    assert project.store.get_validation(vid)["status"] == "run"
    below = _one_code_below(project, vid, report)

    with pytest.raises(ThematicError):
        precode(project, "offline", validation=vid + 99)
    va.accept_validation(project, vid)
    rep = precode(project, "offline")  # the latest accepted report gates it by default
    assert any(f"validation {vid}" in n for n in rep.notes)
    sugg = [s for s in project.store.list_suggestions(status=None) if s.run_id == rep.run_id]
    assert sugg and not any(s.code_id in below for s in sugg)
    assert all(s.params.get("validation_report") == vid for s in sugg)
    audits = [a for a in project.store.list_audit() if a.action == "suggestion.create"
              and a.details.get("run_id") == rep.run_id]
    assert audits and all((a.details.get("params") or {}).get("validation_report") == vid for a in audits)


def _one_code_below(project, vid: int, report: dict) -> set[int]:
    """Make the verdicts known (the hashing embedder's figures are arbitrary): the code the engine
    proposes most is below the bar, every other code passes. Returns the code below."""
    precode(project, "offline", validation=None)
    counts: dict[int, int] = {}
    for s in project.store.list_suggestions(status=None):
        counts[s.code_id] = counts.get(s.code_id, 0) + 1
    worst = max(counts, key=counts.get)
    for r in report["codes"]:
        r["status"] = "below_bar" if r["code_id"] == worst else "passes"
    v = project.store.get_validation(vid)
    project.store.save_validation_report(vid, v["engine"], v["model"], v["bar"], report)
    return {worst}


def test_flag_action_flags_instead_of_excluding(project) -> None:
    vid = va.draw_sample(project, size=6, seed=2)
    _code_sample(project, vid)
    report = va.run_validation(project, vid, va.Bar(minimum=1.01, action="flag"), engine="offline", n_boot=200)
    below = _one_code_below(project, vid, report)
    va.accept_validation(project, vid)
    rep = precode(project, "offline")
    sugg = [s for s in project.store.list_suggestions(status=None) if s.run_id == rep.run_id]
    flagged = [s for s in sugg if s.code_id in below]
    assert flagged and all(va.FLAG_BELOW_BAR in s.params.get("flags", []) for s in flagged)
    assert not any(va.FLAG_BELOW_BAR in s.params.get("flags", []) for s in sugg if s.code_id not in below)


def test_run_needs_a_coded_sample_and_exports(project, tmp_path: Path) -> None:
    vid = va.draw_sample(project, size=4, seed=0)
    with pytest.raises(ThematicError, match="code the sample first"):
        va.run_validation(project, vid, engine="offline")
    _code_sample(project, vid)
    va.run_validation(project, vid, engine="offline", n_boot=100)
    csv_path = va.export_report(project, vid, "csv", tmp_path / "v.csv")
    md_path = va.export_report(project, vid, "md", tmp_path / "v.md")
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("code,status,units,prevalence") and len(lines) == 1 + len(project.store.list_codes())
    md = md_path.read_text()
    assert "| Code | Verdict |" in md and "bootstrap" in md
    assert [a.action for a in project.store.list_audit()][-2:] == ["validation.export", "validation.export"]


def test_an_llm_report_carries_the_offline_engine_on_the_same_sample(project) -> None:
    """A small model can agree with the analyst less than the offline engine it builds on: every
    LLM report scores the offline engine on the same sample and says so when it agreed more."""
    from builders import scripted_engine

    vid = va.draw_sample(project, size=6, seed=2)
    _code_sample(project, vid)
    ids = {c.name: c.id for c in project.store.list_codes()}
    offline = va.run_validation(project, vid, engine="offline", n_boot=100)
    assert "baseline" not in offline and va.baseline_words(offline) == ""

    # proposes a wrong code wherever the analyst applied one: agrees less than the offline engine
    wrong = scripted_engine({"mould": ids["Workforce capacity"], "damp": ids["Workforce capacity"],
                             "staff": ids["Short-term funding"], "nurses": ids["Short-term funding"],
                             "grant": ids["Housing and living conditions"], "twelve month": ids["Frequent attenders"]})
    report = va.run_validation(project, vid, engine=wrong, n_boot=100)
    base = report["baseline"]
    assert base["engine"] == "offline" and base["summary"] == offline["summary"]
    assert [r["offline_kappa"] for r in report["codes"]] == [r["kappa"] for r in offline["codes"]]
    ours, theirs = report["summary"]["mean_kappa"], base["summary"]["mean_kappa"]
    assert ours < theirs and base["engine_below_offline"]
    assert f"mean kappa {theirs:.2f} against {ours:.2f}" in base["advice"]
    assert "Warning: the offline engine agreed more" in va.report_markdown(report)
    assert project.store.get_validation(vid)["report"]["baseline"] == base  # saved with the report
    run = [a for a in project.store.list_audit() if a.action == "validation.run"][-1]
    assert run.details["engine_below_offline"] is True and run.details["offline_summary"] == base["summary"]

    # the analyst's own rules: agrees at least as well, so no warning
    right = scripted_engine({"mould": ids["Housing and living conditions"], "damp": ids["Housing and living conditions"],
                             "staff": ids["Workforce capacity"], "nurses": ids["Workforce capacity"],
                             "grant": ids["Short-term funding"], "funding": ids["Short-term funding"],
                             "twelve month": ids["Short-term funding"], "ambulance": ids["Frequent attenders"]})
    good = va.run_validation(project, vid, engine=right, n_boot=100)
    assert good["summary"]["mean_kappa"] == 1.0
    assert not good["baseline"]["engine_below_offline"] and good["baseline"]["advice"] == ""
    assert "Warning" not in va.baseline_words(good) and "The offline engine on the same sample" in va.baseline_words(good)
