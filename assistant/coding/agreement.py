"""Agreement between two coders (analyst vs analyst, analyst vs the AI), so a team can report
inter-coder reliability and, more usefully, find and discuss the places where they differ.

Units and the rule (documented for analysts):
- The units are the project's excerpts. An excerpt counts as *coded by* a coder when any of that
  coder's active codings overlaps it; only excerpts coded by BOTH coders are compared (an excerpt one
  coder never looked at says nothing about agreement).
- A code *applies* to an excerpt for a coder when one of their codings with that code overlaps the
  excerpt by at least `overlap` (default 0.5) of the coding's length OR of the excerpt's length. So
  a short coding inside a long excerpt counts, and so does a long coding spanning several excerpts.
- Per code, each compared excerpt gives a yes/no pair (A applied it?, B applied it?). Codes neither
  coder applied on the compared excerpts are left out (they would only inflate agreement).
- Overall figures pool every (excerpt, code) pair; `macro_kappa` is the mean of per-code kappas.

Statistics: Cohen's kappa (scikit-learn), Krippendorff's alpha (nominal, the `krippendorff`
package), Gwet's AC1 (implemented here from Gwet 2008 / Handbook 2014), percent agreement,
prevalence (kappa is unstable for rare codes, so it is always shown beside it), and precision /
recall / F1 of coder B against coder A as reference. For codings that do not line up with excerpts,
span-level figures compare the coded characters directly: per code, |A∩B| / |A∪B| over the sources
both coders coded, and character precision/recall of B against A.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field

from assistant.errors import NotFound
from assistant.models import Coding, Excerpt
from assistant.project import Project

# --- statistics (pure) ---------------------------------------------------------------------------


def percent_agreement(a: Sequence, b: Sequence) -> float | None:
    if not a:
        return None
    return sum(x == y for x, y in zip(a, b)) / len(a)


def gwet_ac1(a: Sequence, b: Sequence, categories: Sequence | None = None) -> float | None:
    """Gwet's AC1 for two raters: (pa - pe) / (1 - pe), with pe = 1/(q-1) * sum_k pi_k (1 - pi_k)
    and pi_k the mean of the two raters' shares of category k (Gwet 2008, BJMSP 61:29-48, eq. 6;
    Handbook of Inter-Rater Reliability, 4th ed. 2014). q counts the categories available (at least
    two: a yes/no code has q = 2 even when only "no" was used)."""
    n = len(a)
    if n == 0 or n != len(b):
        return None
    cats = list(dict.fromkeys([*(categories or []), *a, *b]))
    q = max(len(cats), 2)
    ca, cb = Counter(a), Counter(b)
    pa = percent_agreement(a, b) or 0.0
    pe = sum(((ca[k] + cb[k]) / (2 * n)) * (1 - (ca[k] + cb[k]) / (2 * n)) for k in cats) / (q - 1)
    if pe >= 1:
        return None
    return (pa - pe) / (1 - pe)


def cohen_kappa(a: Sequence, b: Sequence) -> float | None:
    """scikit-learn's kappa; None (undefined) when chance agreement is 1, e.g. both coders gave
    every unit the same single label."""
    from sklearn.metrics import cohen_kappa_score

    if not a or len(set(a) | set(b)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = float(cohen_kappa_score(list(a), list(b)))
    return None if math.isnan(k) else k


def krippendorff_alpha(a: Sequence, b: Sequence) -> float | None:
    import krippendorff
    import numpy as np

    if not a or len(set(a) | set(b)) < 2:
        return None
    cats = sorted(set(a) | set(b), key=str)
    index = {c: i for i, c in enumerate(cats)}
    data = np.array([[index[x] for x in a], [index[y] for y in b]], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    return None if math.isnan(value) else value


def prf(a: Sequence[bool], b: Sequence[bool]) -> tuple[float | None, float | None, float | None]:
    """Precision, recall, F1 of B against A as the reference."""
    tp = sum(1 for x, y in zip(a, b) if x and y)
    fp = sum(1 for x, y in zip(a, b) if y and not x)
    fn = sum(1 for x, y in zip(a, b) if x and not y)
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f = 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)
    return p, r, f


# --- character spans -----------------------------------------------------------------------------


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _length(spans: list[tuple[int, int]]) -> int:
    return sum(e - s for s, e in spans)


def _intersection(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    i = j = total = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        total += max(0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


# --- report --------------------------------------------------------------------------------------


class CodeAgreement(BaseModel):
    code_id: int | None = None
    code: str
    units: int = 0
    a_applied: int = 0
    b_applied: int = 0
    both: int = 0
    prevalence_either: float | None = None
    prevalence_both: float | None = None
    percent_agreement: float | None = None
    kappa: float | None = None
    alpha: float | None = None
    ac1: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    span_iou: float | None = None
    span_precision: float | None = None
    span_recall: float | None = None


class AgreementReport(BaseModel):
    coder_a: str
    coder_b: str
    overlap: float
    excerpts_a: int = 0
    excerpts_b: int = 0
    excerpts_compared: int = 0
    codes_compared: int = 0
    per_code: list[CodeAgreement] = Field(default_factory=list)
    overall: CodeAgreement
    macro_kappa: float | None = None
    rule: str = ""


class Disagreement(BaseModel):
    excerpt_id: int
    source: str
    start: int
    end: int
    preview: str
    code: str
    code_id: int
    applied_by: str
    not_applied_by: str


RULE = ("units = excerpts coded by both coders (any overlapping coding; for an AI coder, every excerpt its "
        "batch runs finished); a code applies to an excerpt "
        "when a coding with it overlaps the excerpt by >= {overlap:.0%} of the coding or of the excerpt")


def _applies(c: Coding, e: Excerpt, overlap: float) -> bool:
    inter = min(c.end, e.end) - max(c.start, e.start)
    if inter <= 0:
        return False
    return inter >= overlap * (c.end - c.start) or inter >= overlap * (e.end - e.start)


def _labels(codings: list[Coding], excerpts: list[Excerpt], overlap: float) -> tuple[set[int], dict[int, set[int]]]:
    """Excerpts coded by the coder, and per excerpt the set of code ids that apply."""
    by_source: dict[int, list[Excerpt]] = {}
    for e in excerpts:
        by_source.setdefault(e.source_id, []).append(e)
    coded: set[int] = set()
    applied: dict[int, set[int]] = {}
    for c in codings:
        for e in by_source.get(c.source_id, []):
            if e.end <= c.start or e.start >= c.end:
                continue
            coded.add(int(e.id))  # type: ignore[arg-type]
            if _applies(c, e, overlap):
                applied.setdefault(int(e.id), set()).add(c.code_id)  # type: ignore[arg-type]
    return coded, applied


def _ai_parts(coder: str) -> tuple[str, str] | None:
    """"ai:<engine>:<model>" -> (engine, model); the model may itself contain colons."""
    parts = coder.split(":", 2)
    return (parts[1], parts[2]) if len(parts) == 3 and parts[0] == "ai" else None


def coder_codings(project: Project, coder: str) -> list[Coding]:
    """Everything agreement needs to know about one coder, wherever it lives: analysts' and imported
    coders' codings are stored; an AI coder's are derived from its (non-superseded) suggestions by
    `suggest.ai_codings`, plus any stored codings under the AI's name (e.g. imported ones)."""
    stored = project.store.list_codings(coder=coder)
    parts = _ai_parts(coder)
    if parts is None:
        return stored
    from assistant.coding.suggest import ai_codings

    seen = {(c.excerpt_id, c.code_id) for c in stored if c.excerpt_id is not None}
    derived = [c for c in ai_codings(project, engine=parts[0], model=parts[1])
               if c.coder == coder and (c.excerpt_id, c.code_id) not in seen]
    return stored + derived


def coder_coverage(project: Project, coder: str, coded: set[int]) -> set[int]:
    """The excerpts a coder looked at. For an AI coder that includes every excerpt its batch runs
    finished, so excerpts where it proposed nothing count as "no code" instead of being left out
    (which would flatter agreement)."""
    parts = _ai_parts(coder)
    if parts is None:
        return coded
    return coded | project.store.processed_excerpts(parts[0])


def _ai_coder_counts(project: Project) -> Counter:
    from assistant.coding.suggest import ai_codings

    return Counter(c.coder for c in ai_codings(project))


def _check_coder(project: Project, name: str) -> None:
    known = {c["name"] for c in project.store.list_coders()} | {c.coder for c in project.store.list_codings()}
    if name not in known and not (_ai_parts(name) and name in _ai_coder_counts(project)):
        raise NotFound(f"no coder {name!r} in this project (see `thematic coders`)")


def _row(code_id: int | None, name: str, a: list[bool], b: list[bool]) -> CodeAgreement:
    n = len(a)
    either = sum(1 for x, y in zip(a, b) if x or y)
    both = sum(1 for x, y in zip(a, b) if x and y)
    p, r, f = prf(a, b)
    return CodeAgreement(
        code_id=code_id, code=name, units=n, a_applied=sum(a), b_applied=sum(b), both=both,
        prevalence_either=either / n if n else None, prevalence_both=both / n if n else None,
        percent_agreement=percent_agreement(a, b), kappa=cohen_kappa(a, b), alpha=krippendorff_alpha(a, b),
        ac1=gwet_ac1(a, b, [False, True]), precision=p, recall=r, f1=f,
    )


def _span_figures(ca: list[Coding], cb: list[Coding]) -> dict[int, tuple[int, int, int]]:
    """Per code: (|A∩B|, |A|, |B|) in characters, over sources both coders coded."""
    sources = {c.source_id for c in ca} & {c.source_id for c in cb}
    spans: dict[tuple[int, int, str], list[tuple[int, int]]] = {}
    for who, codings in (("a", ca), ("b", cb)):
        for c in codings:
            if c.source_id in sources:
                spans.setdefault((c.code_id, c.source_id, who), []).append((c.start, c.end))
    out: dict[int, list[int]] = {}
    for code_id, source_id in {(k[0], k[1]) for k in spans}:
        a = _merge(spans.get((code_id, source_id, "a"), []))
        b = _merge(spans.get((code_id, source_id, "b"), []))
        acc = out.setdefault(code_id, [0, 0, 0])
        acc[0] += _intersection(a, b)
        acc[1] += _length(a)
        acc[2] += _length(b)
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def agreement_report(project: Project, coder_a: str, coder_b: str, overlap: float = 0.5) -> AgreementReport:
    if not 0 < overlap <= 1:
        raise ValueError("overlap must be in (0, 1]")
    for name in (coder_a, coder_b):
        _check_coder(project, name)
    store = project.store
    excerpts = store.list_excerpts()
    ca, cb = coder_codings(project, coder_a), coder_codings(project, coder_b)
    coded_a, applied_a = _labels(ca, excerpts, overlap)
    coded_b, applied_b = _labels(cb, excerpts, overlap)
    units = sorted(coder_coverage(project, coder_a, coded_a) & coder_coverage(project, coder_b, coded_b))
    code_ids = sorted({k for u in units for k in applied_a.get(u, set()) | applied_b.get(u, set())})
    names = {c.id: c.name for c in store.list_codes(include_inactive=True)}
    spans = _span_figures(ca, cb)
    rows, pooled_a, pooled_b = [], [], []
    for code_id in code_ids:
        a = [code_id in applied_a.get(u, set()) for u in units]
        b = [code_id in applied_b.get(u, set()) for u in units]
        pooled_a += a
        pooled_b += b
        row = _row(code_id, names.get(code_id, str(code_id)), a, b)
        inter, la, lb = spans.get(code_id, (0, 0, 0))
        union = la + lb - inter
        row.span_iou = inter / union if union else None
        row.span_precision = inter / lb if lb else None
        row.span_recall = inter / la if la else None
        rows.append(row)
    overall = _row(None, "(all codes)", pooled_a, pooled_b)
    overall.units = len(units)
    inter = sum(v[0] for v in spans.values())
    la, lb = sum(v[1] for v in spans.values()), sum(v[2] for v in spans.values())
    overall.span_iou = inter / (la + lb - inter) if la + lb - inter else None
    overall.span_precision = inter / lb if lb else None
    overall.span_recall = inter / la if la else None
    kappas = [r.kappa for r in rows if r.kappa is not None]
    return AgreementReport(
        coder_a=coder_a, coder_b=coder_b, overlap=overlap, excerpts_a=len(coded_a), excerpts_b=len(coded_b),
        excerpts_compared=len(units), codes_compared=len(code_ids), per_code=rows, overall=overall,
        macro_kappa=sum(kappas) / len(kappas) if kappas else None, rule=RULE.format(overlap=overlap),
    )


def disagreements(project: Project, coder_a: str, coder_b: str, overlap: float = 0.5,
                  code: str | int | None = None) -> list[Disagreement]:
    """Every (excerpt, code) on the compared excerpts where exactly one coder applied the code,
    in source order, so the two analysts can walk through them together."""
    for name in (coder_a, coder_b):
        _check_coder(project, name)
    store = project.store
    only = store.get_code(code).id if code is not None else None
    excerpts = store.list_excerpts()
    coded_a, applied_a = _labels(coder_codings(project, coder_a), excerpts, overlap)
    coded_b, applied_b = _labels(coder_codings(project, coder_b), excerpts, overlap)
    units = coder_coverage(project, coder_a, coded_a) & coder_coverage(project, coder_b, coded_b)
    names = {c.id: c.name for c in store.list_codes(include_inactive=True)}
    sources = {s.id: s.name for s in store.list_sources()}
    out: list[Disagreement] = []
    for e in excerpts:
        if e.id not in units:
            continue
        a, b = applied_a.get(int(e.id), set()), applied_b.get(int(e.id), set())  # type: ignore[arg-type]
        for code_id in sorted(a ^ b):
            if only is not None and code_id != only:
                continue
            by, not_by = (coder_a, coder_b) if code_id in a else (coder_b, coder_a)
            out.append(Disagreement(
                excerpt_id=int(e.id), source=sources.get(e.source_id, str(e.source_id)), start=e.start,  # type: ignore[arg-type]
                end=e.end, preview=" ".join(e.text.split())[:160], code=names.get(code_id, str(code_id)),
                code_id=code_id, applied_by=by, not_applied_by=not_by,
            ))
    return out


def list_coders(project: Project) -> list[dict]:
    """Coders with their kind and how many active codings each has, including the AI coders whose
    codings are derived from suggestions ("ai:<engine>:<model>", see `coder_codings`)."""
    counts = Counter(c.coder for c in project.store.list_codings()) + _ai_coder_counts(project)
    rows = {c["name"]: {"name": c["name"], "kind": c["kind"], "codings": counts.get(c["name"], 0)}
            for c in project.store.list_coders()}
    for name, n in counts.items():
        rows.setdefault(name, {"name": name, "kind": "ai" if name.startswith("ai:") else "analyst", "codings": n})
    return sorted(rows.values(), key=lambda r: r["name"])
