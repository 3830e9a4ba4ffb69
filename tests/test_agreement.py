"""Agreement statistics against published worked examples, and the coder-vs-coder report on the
PDPilot interviews (the authors' MAXQDA codings vs a second coder)."""

from __future__ import annotations

import json
import zipfile

import pytest

from assistant.coding.agreement import (
    agreement_report,
    cohen_kappa,
    disagreements,
    gwet_ac1,
    krippendorff_alpha,
    list_coders,
    percent_agreement,
)
from assistant.models import Coding, Excerpt, Source
from assistant.project import Project


def _table(cells: dict[tuple[str, str], int]) -> tuple[list[str], list[str]]:
    a, b = [], []
    for (x, y), n in cells.items():
        a += [x] * n
        b += [y] * n
    return a, b


def test_cohen_kappa_textbook_2x2():
    # Wikipedia "Cohen's kappa", worked example: 50 proposals, yes/yes 20, yes/no 5, no/yes 10, no/no 15.
    a, b = _table({("y", "y"): 20, ("y", "n"): 5, ("n", "y"): 10, ("n", "n"): 15})
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert percent_agreement(a, b) == pytest.approx(0.7)


def test_gwet_ac1_handbook_example():
    # Gwet, Handbook of Inter-Rater Reliability (4th ed., 2014), the 3x3 "abstractors" table (100 abstracts,
    # Ectopic/AIU/NIU), distributed as `cont3x3abstractors` in Gwet's irrCAC package: AC1 = 0.8493,
    # Cohen's kappa = 0.7964, percent agreement = 0.89.
    a, b = _table({("E", "E"): 13, ("A", "A"): 20, ("A", "N"): 7, ("N", "A"): 4, ("N", "N"): 56})
    assert gwet_ac1(a, b) == pytest.approx(0.8493, abs=1e-4)
    assert cohen_kappa(a, b) == pytest.approx(0.7964, abs=1e-4)
    assert percent_agreement(a, b) == pytest.approx(0.89)


def test_ac1_stays_high_where_kappa_paradox_strikes():
    # High agreement on a rare code: kappa collapses, AC1 stays near percent agreement (Gwet 2008).
    a, b = _table({("n", "n"): 118, ("y", "n"): 5, ("n", "y"): 2})
    assert percent_agreement(a, b) == pytest.approx(0.944)
    assert cohen_kappa(a, b) < 0.0
    assert gwet_ac1(a, b) == pytest.approx(0.9408, abs=1e-4)


def test_krippendorff_alpha_canonical_example():
    # Krippendorff (2011) "Computing Krippendorff's alpha-reliability", 4 coders x 12 units with missing
    # values: nominal alpha = 0.743. Our wrapper is 2-coder; check the package on the full example and
    # the wrapper on a 2-coder case it must agree with.
    import krippendorff
    import numpy as np

    nan = np.nan
    data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
            [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
    assert krippendorff.alpha(reliability_data=data, level_of_measurement="nominal") == pytest.approx(0.743, abs=1e-3)
    a, b = _table({("y", "y"): 20, ("y", "n"): 5, ("n", "y"): 10, ("n", "n"): 15})
    # alpha for two coders, no missing data = Scott's pi corrected for sample size: 1 - (n-1) Do/De
    do = 15 / 50
    p_y = (25 + 30) / 100
    de = 2 * p_y * (1 - p_y) * 100 / 99
    assert krippendorff_alpha(a, b) == pytest.approx(1 - do / de, abs=1e-9)


def test_undefined_statistics_are_none_not_nan():
    assert cohen_kappa([False] * 5, [False] * 5) is None
    assert krippendorff_alpha([True] * 3, [True] * 3) is None


# --- on a project ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdpilot_project(tmp_path_factory, pdpilot_dir):
    from assistant.coding.codebook import import_specs
    from assistant.corpus.ingest import ingest_paths
    from assistant.exchange.codebook_files import read_codebook
    from assistant.exchange.exports import import_codings

    folder = tmp_path_factory.mktemp("pd") / "project"
    project = Project.init(folder)
    ingest_paths(project, sorted((pdpilot_dir / "transcripts").glob("P*.txt")), kind="interview", index=False)
    import_specs(project, read_codebook(pdpilot_dir / "codebook.csv"))
    report = import_codings(project, pdpilot_dir / "coded_segments.jsonl", coder="maxqda:authors")
    assert report.added >= 255 and not report.problems, report.problems[:5]
    # Second coder: a deterministic perturbation of the authors' codings (the offline suggestion engine
    # would need the embedding model; this keeps the test fast and its expected figures exact):
    # every 5th coding dropped, every 7th given another code, every 3rd trimmed by 10 characters.
    codes = [c.id for c in project.store.list_codes()]
    for i, c in enumerate(project.store.list_codings(coder="maxqda:authors")):
        if i % 5 == 0:
            continue
        code_id = codes[(codes.index(c.code_id) + 1) % len(codes)] if i % 7 == 0 else c.code_id
        start = c.start + 10 if i % 3 == 0 and c.end - c.start > 40 else c.start
        text = project.store.get_source(c.source_id).text[start:c.end]
        project.store.add_coding(Coding(source_id=c.source_id, excerpt_id=c.excerpt_id, code_id=code_id,
                                        start=start, end=c.end, text=text, coder="ai:offline:perturbed", origin="ai"))
    yield project
    project.close()


def test_pdpilot_agreement_report(pdpilot_project):
    report = agreement_report(pdpilot_project, "maxqda:authors", "ai:offline:perturbed")
    assert report.excerpts_compared > 100 and report.codes_compared > 30
    o = report.overall
    assert 0.5 < o.kappa < 1 and 0.5 < o.ac1 <= 1 and 0.5 < o.alpha < 1
    assert o.precision > 0.8 and 0.6 < o.recall < 0.95
    assert 0 < o.prevalence_either < 0.2  # codes are rare per excerpt: why prevalence sits beside kappa
    assert 0.6 < o.span_iou < 1
    assert all(r.units == report.excerpts_compared for r in report.per_code)
    same = agreement_report(pdpilot_project, "maxqda:authors", "maxqda:authors")
    assert same.overall.kappa == pytest.approx(1.0) and same.overall.span_iou == pytest.approx(1.0)
    json.dumps(report.model_dump())


def test_pdpilot_disagreements_list_both_directions(pdpilot_project):
    rows = disagreements(pdpilot_project, "maxqda:authors", "ai:offline:perturbed")
    assert rows and {r.applied_by for r in rows} == {"maxqda:authors", "ai:offline:perturbed"}
    src = {s.name: s for s in pdpilot_project.store.list_sources(with_text=True)}
    for r in rows[:20]:
        assert " ".join(src[r.source].text[r.start:r.end].split()).startswith(r.preview[:100])
    one = rows[0].code
    assert all(r.code == one for r in disagreements(pdpilot_project, "maxqda:authors", "ai:offline:perturbed", code=one))
    names = {c["name"]: c for c in list_coders(pdpilot_project)}
    assert names["ai:offline:perturbed"]["kind"] == "ai" and names["maxqda:authors"]["codings"] >= 255


def test_pdpilot_qdpx_export_validates(pdpilot_project, shared_dir, tmp_path):
    from assistant.exchange.refi import export_qdpx, import_qdpx, validate_qde

    export_qdpx(pdpilot_project, tmp_path / "pd.qdpx", offsets="utf16")
    with zipfile.ZipFile(tmp_path / "pd.qdpx") as zf:
        assert validate_qde(zf.read("project.qde"), shared_dir / "refi" / "Project-mrt2019.xsd") == []
    report = import_qdpx(tmp_path / "pd.qdpx", tmp_path / "back", offsets="utf16")
    assert report.counts["codings"] == len(pdpilot_project.store.list_codings())


def test_unknown_coder_is_a_clear_error(pdpilot_project):
    from assistant.errors import NotFound

    with pytest.raises(NotFound, match="nobody"):
        agreement_report(pdpilot_project, "maxqda:authors", "nobody")


# --- analyst vs the AI (codings derived from suggestions) -----------------------------------------


def test_analyst_vs_offline_engine_agreement(tmp_path):
    from builders import build_coding_project as make_project

    from assistant.coding.agreement import coder_codings
    from assistant.coding.decisions import add_coding
    from assistant.coding.precode import precode

    project = make_project(tmp_path)
    alice: dict[int, str] = {}  # excerpt id -> the one code alice gave it
    for e in project.store.list_excerpts(include_interviewer=False):  # alice codes every answer herself
        code = "Housing and living conditions" if "mould" in e.text else (
            "Short-term funding" if "funding" in e.text else "Workforce capacity")
        add_coding(project, e.source_id, e.start, e.end, code)
        alice[int(e.id)] = code  # type: ignore[arg-type]
    precode(project, "offline")
    ai = f"ai:offline:{project.embedder.model_id}"
    coders = {c["name"]: c for c in list_coders(project)}
    assert coders[ai]["kind"] == "ai" and coders[ai]["codings"] > 0 and coders["alice"]["codings"] == 4
    assert all(c.coder == ai and c.origin == "ai" for c in coder_codings(project, ai))
    report = agreement_report(project, "alice", ai)
    assert report.excerpts_compared == 4 and report.per_code
    housing = next(r for r in report.per_code if r.code == "Housing and living conditions")
    assert housing.a_applied == 1 and housing.both == 1  # the engine finds the mould excerpt
    assert any(r.kappa is not None for r in report.per_code)
    # the disagreements are exactly the (excerpt, code) pairs one coder applied and the other did
    # not, worked out here from each coder's codings (every coding covers a whole excerpt)
    names = {c.id: c.name for c in project.store.list_codes()}
    by_ai: dict[int, set[str]] = {}
    for c in coder_codings(project, ai):
        by_ai.setdefault(int(c.excerpt_id), set()).add(names[c.code_id])
    expected = {(eid, code, "alice" if code == mine else ai)
                for eid, mine in alice.items() for code in {mine} ^ by_ai.get(eid, set())}
    found = disagreements(project, "alice", ai)
    assert {(d.excerpt_id, d.code, d.applied_by) for d in found} == expected and len(found) == len(expected)
    assert expected and any(by == "alice" for _, _, by in expected)  # the engine misses a code alice gave
    assert sum(r.a_applied + r.b_applied - 2 * r.both for r in report.per_code) == len(found)
    excerpts = {e.id: e for e in project.store.list_excerpts()}
    for d in found:
        assert d.not_applied_by == ({"alice", ai} - {d.applied_by}).pop()
        assert (d.start, d.end) == (excerpts[d.excerpt_id].start, excerpts[d.excerpt_id].end)
    assert [(d.source, d.start) for d in found] == sorted((d.source, d.start) for d in found)  # source order


def test_pdpilot_authors_vs_offline_engine_and_qdpx_validates(pdpilot_project, shared_dir, tmp_path):
    """The issue's path: PDPilot codings imported as one coder, the offline engine's suggestions as
    another. HashingEmbedder keeps this fast (the real model's figures are in
    benchmarks/precode_pdpilot.py); what is tested is the plumbing, not the engine's quality."""
    from assistant.coding.precode import precode
    from assistant.exchange.refi import export_qdpx, validate_qde
    from index.embeddings import HashingEmbedder

    pdpilot_project.set_embedder(HashingEmbedder(256))
    rep = precode(pdpilot_project, "offline")
    assert rep.done > 100 and rep.suggestions > 0
    ai = f"ai:offline:{pdpilot_project.embedder.model_id}"
    report = agreement_report(pdpilot_project, "maxqda:authors", ai)
    assert report.excerpts_compared > 50 and report.codes_compared > 10
    assert report.overall.kappa is not None and -1 <= report.overall.kappa <= 1
    assert all(r.units == report.excerpts_compared for r in report.per_code)
    n_codings = len(pdpilot_project.store.list_codings())  # AI suggestions never become stored codings
    export_qdpx(pdpilot_project, tmp_path / "pd-ai.qdpx", offsets="utf16")
    with zipfile.ZipFile(tmp_path / "pd-ai.qdpx") as zf:
        assert validate_qde(zf.read("project.qde"), shared_dir / "refi" / "Project-mrt2019.xsd") == []
    assert len(pdpilot_project.store.list_codings()) == n_codings


def test_ai_coder_counts_excerpts_it_left_uncoded(tmp_path):
    """An excerpt the AI processed but gave no code is a unit (both "no code" or a disagreement),
    not silently dropped from the comparison."""
    from assistant.coding.agreement import coder_coverage

    project = Project.init(tmp_path / "p")
    store = project.store
    src = store.add_source(Source(name="s.txt", text="one two three four", kind="document"))
    ex = store.add_excerpts([Excerpt(source_id=src.id, ordinal=i, start=s, end=e, text=t)
                             for i, (s, e, t) in enumerate([(0, 3, "one"), (4, 7, "two")])])
    store.start_run("r1", "precode", "offline", {})
    for e in ex:
        store.mark_run_item("r1", e.id, "done")
    assert coder_coverage(project, "ai:offline:m", set()) == {e.id for e in ex}
    assert coder_coverage(project, "alice", {ex[0].id}) == {ex[0].id}


# --- a code's scope (F18): each code over the units where it applies -------------------------------


def _survey_coder(uncoded_by_bob: frozenset[int] = frozenset(), stray: bool = False):
    """Answers to "How could we improve?": 0-7 both code Waiting times, 8-9 only alice, 10-11 only
    bob, 12-19 neither. Every answer without it gets "Other", so both coders coded every answer
    (unless bob leaves some of the improve-answers uncoded). `stray`: alice also puts Waiting times
    on one "What went well?" answer, outside the code's scope."""
    from builders import IMPROVE

    def coder(name: str, i: int, question: str) -> list[str]:
        if question == IMPROVE:
            if name == "bob" and i in uncoded_by_bob:
                return []
            wt = i < 8 or (name == "alice" and i in (8, 9)) or (name == "bob" and i in (10, 11))
            return ["Waiting times"] if wt else ["Other"]
        return ["Other", "Waiting times"] if stray and name == "alice" and i == 0 else ["Other"]

    return coder


def _survey(tmp_path, **kw):
    from builders import IMPROVE, build_survey

    from assistant.coding.codebook import CodeSpec

    codes = [CodeSpec(name="Waiting times", definition="Waits for appointments or care.", scope={"question": IMPROVE}),
             CodeSpec(name="Other", definition="Anything else.")]
    return build_survey(tmp_path / "survey", 20, codes, _survey_coder(**kw))


def _ac1_2x2(yy: int, yn: int, ny: int, nn: int) -> tuple[float, float]:
    """Percent agreement and Gwet's AC1 for a yes/no table, by hand (independent of gwet_ac1)."""
    n = yy + yn + ny + nn
    pa = (yy + nn) / n
    pi = ((yy + yn) + (yy + ny)) / (2 * n)
    pe = 2 * pi * (1 - pi)  # (1/(q-1)) * sum_k pi_k (1 - pi_k), q = 2
    return pa, (pa - pe) / (1 - pe)


def test_scoped_code_is_compared_over_its_question_only(tmp_path):
    project = _survey(tmp_path)
    report = agreement_report(project, "alice", "bob")
    rows = {r.code: r for r in report.per_code}
    wt, other = rows["Waiting times"], rows["Other"]
    pa, ac1 = _ac1_2x2(8, 2, 2, 8)  # the 20 answers to its own question
    assert (pa, round(ac1, 6)) == (0.8, 0.6)
    assert wt.units == 20 and wt.units_basis == "scope" and "How could we improve?" in wt.units_rule
    assert wt.percent_agreement == pytest.approx(pa) and wt.ac1 == pytest.approx(ac1)
    assert wt.kappa == pytest.approx(0.6)
    # what the old rule gave (all 40 answers): the 20 agreed absences on the other question inflate it
    pa_all, ac1_all = _ac1_2x2(8, 2, 2, 28)
    assert pa_all == pytest.approx(0.9) and ac1_all == pytest.approx(0.84)
    assert wt.ac1 < ac1_all - 0.2
    assert other.units == 40 and other.units_basis == "all"
    assert report.excerpts_compared == 40 and report.units_basis == "all"
    assert report.codes_by_basis == {"all": 1, "scope": 1}
    o = report.overall
    assert o.units_basis == "mixed" and o.units == 40 and "60 (excerpt, code) pairs" in o.units_rule
    assert report.outside_scope == {}
    # disagreements walk the same units
    diffs = [d for d in disagreements(project, "alice", "bob") if d.code == "Waiting times"]
    assert len(diffs) == 4 and {d.applied_by for d in diffs} == {"alice", "bob"}
    project.close()


def test_application_outside_scope_is_counted_not_compared(tmp_path):
    project = _survey(tmp_path, stray=True)
    report = agreement_report(project, "alice", "bob")
    wt = next(r for r in report.per_code if r.code == "Waiting times")
    assert wt.units == 20 and wt.percent_agreement == pytest.approx(0.8) and wt.a_applied == 10
    assert report.outside_scope == {"Waiting times": 1}
    stray = [d for d in disagreements(project, "alice", "bob", code="Waiting times") if "went well" in d.preview]
    assert stray == []
    project.close()


def test_assigned_unit_left_uncoded_counts_as_absent(tmp_path):
    # bob leaves three improve-answers uncoded: #8 (alice: Waiting times), #12 and #13 (alice: Other)
    project = _survey(tmp_path, uncoded_by_bob=frozenset({8, 12, 13}))
    dropped = agreement_report(project, "alice", "bob")
    wt = next(r for r in dropped.per_code if r.code == "Waiting times")
    assert dropped.excerpts_compared == 37 and wt.units == 17  # the old rule: uncoded answers vanish
    assert wt.percent_agreement == pytest.approx(_ac1_2x2(8, 1, 2, 6)[0])
    assigned = agreement_report(project, "alice", "bob", assigned_filters={"kind": "survey"})
    assert assigned.units_basis == "assigned" and assigned.assigned_sources == 20
    assert assigned.excerpts_compared == 40  # answers only: the question turns are not units
    rows = {r.code: r for r in assigned.per_code}
    pa, ac1 = _ac1_2x2(8, 2, 2, 8)
    assert rows["Waiting times"].units == 20 and rows["Waiting times"].b_applied == 10
    assert rows["Waiting times"].percent_agreement == pytest.approx(pa) and rows["Waiting times"].ac1 == pytest.approx(ac1)
    assert rows["Other"].units == 40 and rows["Other"].units_basis == "assigned"
    assert "assigned to both coders" in assigned.rule
    named = agreement_report(project, "alice", "bob", assigned_sources=["fft.csv#R08"])
    assert named.assigned_sources == 1 and named.excerpts_compared == 2
    project.close()


def test_scope_by_source_attribute(tmp_path):
    from builders import build_survey

    from assistant.coding.codebook import CodeSpec

    codes = [CodeSpec(name="Ward B noise", scope={"filters": {"ward": "b"}}), CodeSpec(name="Other")]

    def coder(name: str, i: int, question: str) -> list[str]:
        return ["Ward B noise"] if i >= 15 and (name == "alice" or i != 15) else ["Other"]

    project = build_survey(tmp_path / "s", 20, codes, coder, ward={i: "B" for i in range(15, 20)})
    row = next(r for r in agreement_report(project, "alice", "bob").per_code if r.code == "Ward B noise")
    assert row.units == 10 and row.units_basis == "scope" and "ward" in row.units_rule  # 5 people x 2 answers
    assert row.percent_agreement == pytest.approx(0.8)
    project.close()


def test_excerpt_question_from_context_or_attribute():
    from assistant.corpus.view import excerpt_question

    text = "How could  we improve?\nShorter waits."
    src = Source(id=1, name="R1", text=text, kind="survey")
    answer = Excerpt(id=2, source_id=1, ordinal=1, start=23, end=37, text=text[23:37], context_start=0, context_end=22)
    assert excerpt_question(answer, src) == "How could we improve?"
    single = Source(id=3, name="U7", text="Too long a wait.", kind="survey", attributes={"Question": "FFT Why?"})
    alone = Excerpt(id=4, source_id=3, ordinal=0, start=0, end=16, text="Too long a wait.")
    assert excerpt_question(alone, single) == "FFT Why?"
    assert excerpt_question(alone, Source(id=5, name="x", text="Too long a wait.")) is None


def test_cli_agreement_shows_units(tmp_path):
    from typer.testing import CliRunner

    from assistant.cli import app

    project = _survey(tmp_path)
    folder = str(project.folder)
    project.close()
    runner = CliRunner()
    out = runner.invoke(app, ["agreement", "--coder", "alice", "--coder", "bob", "--json", "-p", folder])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    wt = next(r for r in data["per_code"] if r["code"] == "Waiting times")
    assert wt["units"] == 20 and wt["units_basis"] == "scope" and data["overall"]["units_basis"] == "mixed"
    out = runner.invoke(app, ["agreement", "--coder", "alice", "--coder", "bob", "--assigned", "kind=survey",
                              "-p", folder], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "scope" in out.stdout and "assigned" in out.stdout and "units" in out.stdout
