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
    from coding_helpers import make_project

    from assistant.coding.agreement import coder_codings
    from assistant.coding.decisions import add_coding
    from assistant.coding.precode import precode

    project = make_project(tmp_path)
    for e in project.store.list_excerpts(include_interviewer=False):  # alice codes every answer herself
        code = "Housing and living conditions" if "mould" in e.text else (
            "Short-term funding" if "funding" in e.text else "Workforce capacity")
        add_coding(project, e.source_id, e.start, e.end, code)
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
    assert disagreements(project, "alice", ai) is not None


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
