"""Agreement between two coders (analyst vs analyst, analyst vs the AI), so a team can report
inter-coder reliability and, more usefully, find and discuss the places where they differ.

Units and the rule (documented for analysts):
- The units are the project's excerpts. An excerpt counts as *coded by* a coder when any of that
  coder's active codings overlaps it. By default only excerpts coded by BOTH coders are compared
  (an excerpt one coder never looked at says nothing about agreement): units "all".
- When the analyst says which sources were assigned to both coders (`assigned_sources` /
  `assigned_filters`, `thematic agreement --assigned`), every answer excerpt of those sources is a
  unit, and one a coder left uncoded counts as "code absent" for that coder rather than being
  dropped: units "assigned". (An AI coder's assignment is known: every excerpt its batch runs
  finished counts, coded or not.)
- Each code is compared over the units where it *can* apply: a code with a `scope` (sources,
  source attributes, or the question it belongs to, see `codebook.code_applies`) over the units in
  its scope only, units "scope". Comparing a code for one survey question over every answer adds
  hundreds of agreed absences where it could not apply and inflates every figure (on a real
  survey, AC1 0.997 over all answers vs 0.655 over its own question's). The question of an
  excerpt is the question turn it answers, else its source's `question` attribute. Applications
  of a code outside its scope are left out of its figures and counted in `outside_scope`.
- A code *applies* to an excerpt for a coder when one of their codings with that code overlaps the
  excerpt by at least `overlap` (default 0.5) of the coding's length OR of the excerpt's length. So
  a short coding inside a long excerpt counts, and so does a long coding spanning several excerpts.
- Per code, each of its units gives a yes/no pair (A applied it?, B applied it?). Codes neither
  coder applied on their units are left out (they would only inflate agreement).
- Overall figures pool every (unit, code) pair, each code over its own units; `macro_kappa` is the
  mean of per-code kappas. Every row records how many units it used and how they were chosen.

Statistics: Cohen's kappa (scikit-learn), Krippendorff's alpha (nominal, the `krippendorff`
package), Gwet's AC1 (implemented here from Gwet 2008 / Handbook 2014), percent agreement,
prevalence (kappa is unstable for rare codes, so it is always shown beside it), and precision /
recall / F1 of coder B against coder A as reference. For codings that do not line up with excerpts,
span-level figures compare the coded characters directly: per code, |A∩B| / |A∪B| over the sources
both coders coded (for a scoped code, its codings on its units), and character precision/recall of
B against A.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from assistant.corpus.view import excerpt_question, matches_filters, source_meta
from assistant.errors import NotFound
from assistant.models import Code, Coding, Excerpt, Source, StoredExcerpt, is_ai_coder
from assistant.project import Project

UnitsBasis = Literal["scope", "assigned", "all"]

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
    # how `units` were chosen: "scope" (the units in the code's scope), "assigned" (every excerpt
    # of the sources assigned to both coders), "all" (every excerpt both coders coded); the
    # overall row says "mixed" when codes differ
    units_basis: str = "all"
    units_rule: str = ""


class AgreementReport(BaseModel):
    coder_a: str
    coder_b: str
    overlap: float
    excerpts_a: int = 0
    excerpts_b: int = 0
    excerpts_compared: int = 0  # the units before scoping: "assigned" or "all" (see units_basis)
    codes_compared: int = 0
    per_code: list[CodeAgreement] = Field(default_factory=list)
    overall: CodeAgreement
    macro_kappa: float | None = None
    rule: str = ""
    units_basis: UnitsBasis = "all"  # how excerpts_compared were chosen ("assigned" or "all")
    assigned_sources: int | None = None  # how many sources were assigned to both, when given
    codes_by_basis: dict[str, int] = Field(default_factory=dict)
    outside_scope: dict[str, int] = Field(default_factory=dict)  # code -> applications outside its scope


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


RULE = ("units = {units}; each code over the units where it applies (a scoped code over its scope only); "
        "a code applies to an excerpt "
        "when a coding with it overlaps the excerpt by >= {overlap:.0%} of the coding or of the excerpt")
UNITS_ALL = ("excerpts coded by both coders (any overlapping coding; for an AI coder, every excerpt its "
             "batch runs finished)")
UNITS_ASSIGNED = ("every answer excerpt of the {n} source{s} assigned to both coders (one a coder left "
                  "uncoded counts as absent)")


def _applies(c: Coding, e: Excerpt, overlap: float) -> bool:
    inter = min(c.end, e.end) - max(c.start, e.start)
    if inter <= 0:
        return False
    return inter >= overlap * (c.end - c.start) or inter >= overlap * (e.end - e.start)


def _labels(codings: list[Coding], excerpts: list[StoredExcerpt], overlap: float) -> tuple[set[int], dict[int, set[int]]]:
    """Excerpts coded by the coder, and per excerpt the set of code ids that apply."""
    by_source: dict[int, list[StoredExcerpt]] = {}
    for e in excerpts:
        by_source.setdefault(e.source_id, []).append(e)
    coded: set[int] = set()
    applied: dict[int, set[int]] = {}
    for c in codings:
        for e in by_source.get(c.source_id, []):
            if e.end <= c.start or e.start >= c.end:
                continue
            coded.add(e.id)
            if _applies(c, e, overlap):
                applied.setdefault(e.id, set()).add(c.code_id)
    return coded, applied


def _ai_parts(coder: str) -> tuple[str, str] | None:
    """"ai:<engine>:<model>" -> (engine, model); the model may itself contain colons."""
    parts = coder.split(":", 2)
    return (parts[1], parts[2]) if len(parts) == 3 and is_ai_coder(coder) else None


def coder_codings(project: Project, coder: str) -> list[Coding]:
    """Everything agreement needs to know about one coder, wherever it lives: analysts' and imported
    coders' codings are stored; an AI coder's are derived from its (non-superseded) suggestions by
    `suggest.ai_codings`, plus any stored codings under the AI's name (e.g. imported ones)."""
    stored: list[Coding] = list(project.store.list_codings(coder=coder))
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


def _span_figures(ca: list[Coding], cb: list[Coding],
                  keep: Mapping[int, Mapping[int, list[tuple[int, int]]]] | None = None,
                  ) -> dict[int, tuple[int, int, int]]:
    """Per code: (|A∩B|, |A|, |B|) in characters, over sources both coders coded. `keep` limits a
    code (a scoped one) to its codings that overlap one of its units: code -> source -> spans."""
    keep = keep or {}
    sources = {c.source_id for c in ca} & {c.source_id for c in cb}
    spans: dict[tuple[int, int, str], list[tuple[int, int]]] = {}
    for who, codings in (("a", ca), ("b", cb)):
        for c in codings:
            if c.source_id not in sources:
                continue
            if c.code_id in keep and not any(s < c.end and c.start < e for s, e in keep[c.code_id].get(c.source_id, [])):
                continue
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


# --- which units each code is compared over -------------------------------------------------------


@dataclass
class CodeUnits:
    """The units one code is compared over, and how they were chosen."""

    code_id: int
    units: list[int]
    basis: UnitsBasis
    rule: str
    outside_scope: int = 0  # applications (by either coder) on compared excerpts outside its scope


@dataclass
class Comparison:
    """Everything both the report and the list of disagreements need, computed once, so the two
    can never compare different units."""

    excerpts: list[StoredExcerpt]
    codings_a: list[Coding]
    codings_b: list[Coding]
    coded_a: set[int]
    coded_b: set[int]
    applied_a: dict[int, set[int]]
    applied_b: dict[int, set[int]]
    units: list[int]  # before scoping
    basis: UnitsBasis
    units_rule: str
    assigned_sources: int | None
    per_code: list[CodeUnits] = field(default_factory=list)
    outside_scope: dict[int, int] = field(default_factory=dict)


def assigned_source_ids(project: Project, sources: Iterable[int | str] | None = None,
                        filters: Mapping[str, Any] | None = None) -> set[int]:
    """The sources assigned to both coders: those named (ids or names) plus those matching
    `filters` (search filter semantics: attributes, `kind`, `source`; a list means any of)."""
    store = project.store
    out = {store.get_source(ref).id for ref in (sources or [])}
    if filters:
        out |= {s.id for s in store.list_sources() if matches_filters(source_meta(s), filters)}
    return out


def _scope_words(scope: Mapping[str, Any]) -> str:
    parts = []
    if scope.get("question"):
        parts.append(f"question = {scope['question']!r}")
    for key, want in (scope.get("filters") or {}).items():
        parts.append(f"{key} = {want!r}")
    if scope.get("source_ids"):
        parts.append(f"{len(scope['source_ids'])} named sources")
    return ", ".join(parts) or "(empty scope)"


def compare(project: Project, coder_a: str, coder_b: str, overlap: float = 0.5,
            assigned_sources: Iterable[int | str] | None = None,
            assigned_filters: Mapping[str, Any] | None = None) -> Comparison:
    """The units of a two-coder comparison, per code (see the module docstring for the rule)."""
    if not 0 < overlap <= 1:
        raise ValueError("overlap must be in (0, 1]")
    for name in (coder_a, coder_b):
        _check_coder(project, name)
    store = project.store
    excerpts = store.list_excerpts()
    ca, cb = coder_codings(project, coder_a), coder_codings(project, coder_b)
    coded_a, applied_a = _labels(ca, excerpts, overlap)
    coded_b, applied_b = _labels(cb, excerpts, overlap)
    assigned: set[int] | None = None
    if assigned_sources is not None or assigned_filters is not None:
        assigned = assigned_source_ids(project, assigned_sources, assigned_filters)
    if assigned is not None:
        either = coded_a | coded_b
        units = sorted(e.id for e in excerpts
                       if e.source_id in assigned and (not e.is_interviewer or e.id in either))
        basis: UnitsBasis = "assigned"
        units_rule = UNITS_ASSIGNED.format(n=len(assigned), s="" if len(assigned) == 1 else "s")
    else:
        units = sorted(coder_coverage(project, coder_a, coded_a) & coder_coverage(project, coder_b, coded_b))
        basis, units_rule = "all", UNITS_ALL
    comp = Comparison(excerpts, ca, cb, coded_a, coded_b, applied_a, applied_b, units, basis, units_rule,
                      len(assigned) if assigned is not None else None)
    codes = {c.id: c for c in store.list_codes(include_inactive=True)}
    code_ids = sorted({k for u in units for k in applied_a.get(u, set()) | applied_b.get(u, set())})
    in_scope = _ScopeCheck(project, excerpts)
    for code_id in code_ids:
        code = codes.get(code_id)
        if code is not None and code.scope:
            mine = [u for u in units if in_scope(code, u)]
            mine_set = set(mine)
            outside = sum((code_id in applied_a.get(u, set())) + (code_id in applied_b.get(u, set()))
                          for u in units if u not in mine_set)
            if outside:
                comp.outside_scope[code_id] = outside
            cu = CodeUnits(code_id, mine, "scope",
                           f"scope {_scope_words(code.scope)}: {len(mine)} of the {len(units)} compared excerpts",
                           outside)
        else:
            cu = CodeUnits(code_id, units, basis, units_rule)
        if any(code_id in applied_a.get(u, set()) or code_id in applied_b.get(u, set()) for u in cu.units):
            comp.per_code.append(cu)
    return comp


class _ScopeCheck:
    """`code_applies` for an excerpt, with the excerpt's source and question looked up once."""

    def __init__(self, project: Project, excerpts: list[StoredExcerpt]):
        self.project = project
        self.by_id = {e.id: e for e in excerpts}
        self.sources: dict[int, Source] = {s.id: s for s in project.store.list_sources()}
        self._texts: dict[int, str] | None = None
        self._questions: dict[int, str | None] = {}

    def question(self, e: StoredExcerpt) -> str | None:
        eid = e.id
        if eid not in self._questions:
            if self._texts is None and e.context_start is not None:
                self._texts = self.project.store.source_texts()
            text = (self._texts or {}).get(e.source_id, "")
            self._questions[eid] = excerpt_question(e, self.sources[e.source_id], text)
        return self._questions[eid]

    def __call__(self, code: Code, unit: int) -> bool:
        from assistant.coding.codebook import code_applies

        e = self.by_id[unit]
        src = self.sources.get(e.source_id)
        if src is None:
            return False
        question = self.question(e) if (code.scope or {}).get("question") else None
        return code_applies(code, src, question)


def agreement_report(project: Project, coder_a: str, coder_b: str, overlap: float = 0.5,
                     assigned_sources: Iterable[int | str] | None = None,
                     assigned_filters: Mapping[str, Any] | None = None) -> AgreementReport:
    """Per-code and overall agreement, each code over the units where it applies. Give
    `assigned_sources` (ids or names) and/or `assigned_filters` when you know which sources both
    coders were asked to code: their uncoded excerpts then count as "absent", not as missing."""
    comp = compare(project, coder_a, coder_b, overlap, assigned_sources, assigned_filters)
    names = {c.id: c.name for c in project.store.list_codes(include_inactive=True)}
    keep: dict[int, dict[int, list[tuple[int, int]]]] = {}
    by_id = {e.id: e for e in comp.excerpts}
    for cu in comp.per_code:
        if cu.basis == "scope":
            spans: dict[int, list[tuple[int, int]]] = {}
            for u in cu.units:
                spans.setdefault(by_id[u].source_id, []).append((by_id[u].start, by_id[u].end))
            keep[cu.code_id] = spans
    spans_by_code = _span_figures(comp.codings_a, comp.codings_b, keep)
    rows, pooled_a, pooled_b, used = [], [], [], set()
    for cu in comp.per_code:
        a = [cu.code_id in comp.applied_a.get(u, set()) for u in cu.units]
        b = [cu.code_id in comp.applied_b.get(u, set()) for u in cu.units]
        pooled_a += a
        pooled_b += b
        used.update(cu.units)
        row = _row(cu.code_id, names.get(cu.code_id, str(cu.code_id)), a, b)
        row.units_basis, row.units_rule = cu.basis, cu.rule
        inter, la, lb = spans_by_code.get(cu.code_id, (0, 0, 0))
        union = la + lb - inter
        row.span_iou = inter / union if union else None
        row.span_precision = inter / lb if lb else None
        row.span_recall = inter / la if la else None
        rows.append(row)
    by_basis = Counter(cu.basis for cu in comp.per_code)
    overall = _row(None, "(all codes)", pooled_a, pooled_b)
    overall.units = len(used)
    overall.units_basis = next(iter(by_basis)) if len(by_basis) == 1 else ("mixed" if by_basis else comp.basis)
    overall.units_rule = ("each code over its own units: "
                          + ", ".join(f"{n} code{'s' if n != 1 else ''} by {b}" for b, n in sorted(by_basis.items()))
                          + f"; {len(pooled_a)} (excerpt, code) pairs") if by_basis else comp.units_rule
    counted = [(c, spans_by_code[c.code_id]) for c in comp.per_code if c.code_id in spans_by_code]
    inter = sum(v[0] for _, v in counted)
    la, lb = sum(v[1] for _, v in counted), sum(v[2] for _, v in counted)
    overall.span_iou = inter / (la + lb - inter) if la + lb - inter else None
    overall.span_precision = inter / lb if lb else None
    overall.span_recall = inter / la if la else None
    kappas = [r.kappa for r in rows if r.kappa is not None]
    return AgreementReport(
        coder_a=coder_a, coder_b=coder_b, overlap=overlap, excerpts_a=len(comp.coded_a),
        excerpts_b=len(comp.coded_b), excerpts_compared=len(comp.units), codes_compared=len(rows),
        per_code=rows, overall=overall, macro_kappa=sum(kappas) / len(kappas) if kappas else None,
        rule=RULE.format(units=comp.units_rule, overlap=overlap), units_basis=comp.basis,
        assigned_sources=comp.assigned_sources, codes_by_basis=dict(sorted(by_basis.items())),
        outside_scope={names.get(k, str(k)): v for k, v in sorted(comp.outside_scope.items())},
    )


def disagreements(project: Project, coder_a: str, coder_b: str, overlap: float = 0.5,
                  code: str | int | None = None, assigned_sources: Iterable[int | str] | None = None,
                  assigned_filters: Mapping[str, Any] | None = None) -> list[Disagreement]:
    """Every (excerpt, code) among a code's compared units (the same units as `agreement_report`)
    where exactly one coder applied the code, in source order, so the two analysts can walk
    through them together."""
    store = project.store
    only = store.get_code(code).id if code is not None else None
    comp = compare(project, coder_a, coder_b, overlap, assigned_sources, assigned_filters)
    names = {c.id: c.name for c in store.list_codes(include_inactive=True)}
    sources = {s.id: s.name for s in store.list_sources()}
    units_of = {cu.code_id: set(cu.units) for cu in comp.per_code if only is None or cu.code_id == only}
    out: list[Disagreement] = []
    for e in comp.excerpts:
        eid = e.id
        a, b = comp.applied_a.get(eid, set()), comp.applied_b.get(eid, set())
        for code_id in sorted(a ^ b):
            if eid not in units_of.get(code_id, ()):
                continue
            by, not_by = (coder_a, coder_b) if code_id in a else (coder_b, coder_a)
            out.append(Disagreement(
                excerpt_id=eid, source=sources.get(e.source_id, str(e.source_id)), start=e.start,
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
        rows.setdefault(name, {"name": name, "kind": "ai" if is_ai_coder(name) else "analyst", "codings": n})
    return sorted(rows.values(), key=lambda r: r["name"])
