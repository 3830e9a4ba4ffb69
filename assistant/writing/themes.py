"""Theme drafts from the accepted codings, the analyst's edits to them, and cross-source views.

Drafting: each code with accepted codings is represented by the mean embedding of its
"name: definition" and its coded texts; codes are grouped by agglomerative clustering (cosine,
average linkage -- no need to assume spherical clusters as KMeans does), the number of themes
chosen by silhouette score over max(2, codes/6)..8 unless the analyst sets it. Each theme gets 3-6 supporting
quotes from its codings, one per participant where the data allow.

Summaries: with a model, drafted from the numbered quotes only (prompts/theme_summary.v1.md) and
checked by `citations.verify_text(bad_citation="drop_sentence", uncited="drop")`, the same rule
as ask: a sentence citing an unknown quote id, quoting words not found verbatim in a quote it
cites, or citing nothing at all, is removed and counted in the draft report (`removed_sentences`,
`dropped_uncited`, and each sentence's support under `sentences_checked`). With
no model the summary is extractive (summary_kind="extractive"): counts, distinctive terms by
class-based TF-IDF (the theme's coded texts against the rest of the corpus) and representative
quotes. Drafts are proposals: the analyst accepts, rejects, renames, edits, merges or splits them,
and each of those goes to the audit log with the analyst as actor."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assistant.corpus.view import (
    accepted_codings,
    accepted_codings_by_code,
    embed_texts,
    participant_key,
    unit,
)
from assistant.errors import ThematicError
from assistant.models import Coding, StoredCode, StoredTheme, Theme
from assistant.project import Project
from assistant.writing.citations import verify_text
from assistant.writing.quotes import QuoteContext, quotes_for_spans

Progress = Callable[[int, int], None]
SUMMARY_WORDS = 200
MAX_THEMES = 8
DOCUMENTS_COLUMN = "(documents)"  # coverage by participant: where document codings go


@dataclass
class DraftReport:
    themes: list[StoredTheme]
    reports: dict[int, dict[str, Any]] = field(default_factory=dict)  # theme id -> verification report
    n_themes: int = 0
    silhouette: dict[int, float] = field(default_factory=dict)


# --- clustering ------------------------------------------------------------------------------------


def code_vectors(project: Project, codes: Sequence[StoredCode], codings: dict[int, list[Coding]]) -> np.ndarray:
    rows = []
    for c in codes:
        texts = [f"{c.name}: {c.definition}".strip(": ")] + [x.text for x in codings.get(c.id, [])]
        rows.append(unit(embed_texts(project, texts).astype(np.float64).mean(axis=0)))
    return np.stack(rows) if rows else np.zeros((0, 1))


def cluster_codes(vectors: np.ndarray, n_themes: int | None = None) -> tuple[list[int], dict[int, float]]:
    """Cluster labels per code, and the silhouette score of each k tried (empty when fixed)."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    n = len(vectors)
    if n <= 2:
        return [0] * n if (n_themes or 1) == 1 or n < 2 else list(range(n)), {}
    fit = lambda k: AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(vectors)
    if n_themes:
        return [int(x) for x in fit(min(max(1, n_themes), n))], {}
    scores: dict[int, float] = {}
    best: tuple[float, Any] | None = None
    # Silhouette alone favours two big clusters; a theme that groups more than about six codes is
    # rarely one an analyst can defend, so the search starts at n/6 themes.
    for k in range(max(2, round(n / 6)), min(MAX_THEMES, n - 1) + 1):
        labels = fit(k)
        if len(set(labels)) < 2:
            continue
        scores[k] = round(float(silhouette_score(vectors, labels, metric="cosine")), 4)
        if best is None or scores[k] > best[0]:
            best = (scores[k], labels)
    return ([int(x) for x in best[1]] if best else [0] * n), scores


def distinctive_terms(theme_docs: Sequence[str], rest: str, top: int = 8) -> list[list[str]]:
    """Class-based TF-IDF: each theme's texts as one document, the rest of the corpus as another,
    so terms common everywhere ("think", "really") score low."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = list(theme_docs) + [rest or " "]
    try:
        vec = TfidfVectorizer(stop_words="english", ngram_range=(1, 2), sublinear_tf=True, min_df=1,
                              token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z\-]{2,}\b")
        matrix = vec.fit_transform(docs)
    except ValueError:  # empty vocabulary
        return [[] for _ in theme_docs]
    terms = vec.get_feature_names_out()
    out = []
    for i in range(len(theme_docs)):
        row = matrix[i].toarray().ravel()
        picked: list[str] = []
        for j in np.argsort(-row):
            if row[j] <= 0 or len(picked) >= top:
                break
            if not any(terms[j] in p or p in terms[j] for p in picked):
                picked.append(str(terms[j]))
        out.append(picked)
    return out


# Words that score as "distinctive" in interview talk and minutes but name nothing: reporting
# verbs, hedges, fillers and contractions' stubs.
_FILLER_TEXT = """
said says say saying noted note notes told tell think thought know known knew mean means meant
really actually basically just right yes yeah okay um er erm like sort kind lot lots bit things
thing way ways stuff got get gets getting going goes went come comes came make makes made
talk talking talked remained remains remain aren isn don doesn didn wasn weren won wouldn couldn shouldn
ve ll re able asked ask want wanted need needed use used year years time times day days week weeks
good bad big small new old different important certain particular general specific following
"""
FILLER_WORDS = frozenset(_FILLER_TEXT.split())
TERM_CANDIDATES = 30
TERMS_SHOWN = 8


def readable_terms(candidates: Sequence[str], texts: Sequence[str], code_words: Sequence[str] = (),
                   top: int = TERMS_SHOWN) -> list[str]:
    """The distinctive terms worth showing a reader and naming a theme by: no filler words; a
    two-word term only where the two words stand together in the text ("population health", not
    "agreement october" from "Agreement in October"); a term used in more than one coding when
    the theme has several (one quote's wording is not the theme's); terms that also appear in the
    theme's code names or definitions first."""
    lowered = [" ".join(t.lower().split()) for t in texts]
    codes = " ".join(code_words).lower()
    kept: list[tuple[int, int, str]] = []
    for rank, term in enumerate(candidates):
        words = term.split()
        if any(w in FILLER_WORDS for w in words):
            continue
        hits = sum(1 for t in lowered if re.search(rf"\b{re.escape(term)}", t))
        if hits == 0 or (len(lowered) >= 3 and hits < 2):
            continue
        kept.append((0 if term in codes else 1, rank, term))
    out: list[str] = []
    for _, _, term in sorted(kept):
        if not any(term in o or o in term for o in out):
            out.append(term)
        if len(out) >= top:
            break
    return out


# --- drafting --------------------------------------------------------------------------------------


def draft_themes(project: Project, n_themes: int | None = None, llm: Any = None,
                 progress: Progress | None = None, cache: bool = True) -> list[StoredTheme]:
    return draft_themes_report(project, n_themes, llm, progress, cache).themes


def draft_themes_report(project: Project, n_themes: int | None = None, llm: Any = None,
                        progress: Progress | None = None, cache: bool = True) -> DraftReport:
    store = project.store
    by_code = accepted_codings_by_code(project)
    codes = [c for c in store.list_codes() if by_code.get(c.id)]
    if not codes:
        raise ThematicError("no accepted codings yet: code some excerpts before drafting themes")
    taken = kept_theme_codes(project)
    codes = [c for c in codes if c.id not in taken]
    if not codes:
        raise ThematicError("every code with accepted codings is already in a theme you accepted or edited; "
                            "reject or split one to draft again")
    codings = {c.id: by_code[c.id] for c in codes}
    vectors = code_vectors(project, codes, codings)
    labels, silhouettes = cluster_codes(vectors, n_themes)
    groups: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(lab, []).append(i)
    ctx = QuoteContext(project)
    clusters = sorted(groups.values(), key=lambda g: -sum(len(codings[codes[i].id]) for i in g))
    docs = [" ".join(x.text for i in g for x in codings[codes[i].id]) for g in clusters]
    rest = " ".join(e.text for e in uncoded_excerpts(ctx, by_code.values()))
    terms = [readable_terms(found, [x.text for i in g for x in codings[codes[i].id]],
                            [f"{codes[i].name} {codes[i].definition}" for i in g])
             for g, found in zip(clusters, distinctive_terms(docs, rest, top=TERM_CANDIDATES))]
    with store.transaction():
        _supersede_drafts(project)
        result = DraftReport([], n_themes=len(clusters), silhouette=silhouettes)
        names = [t.name for t in store.list_themes()]
        for n, (g, top_terms) in enumerate(zip(clusters, terms), start=1):
            theme, report = _draft_one(project, ctx, [codes[i] for i in g], codings, vectors[g], top_terms, llm, cache,
                                       names)
            names.append(theme.name)
            theme = store.add_theme(theme)
            result.themes.append(theme)
            result.reports[theme.id] = report
            store.audit(project.analyst, "draft", "theme", theme.id, name=theme.name, code_ids=theme.code_ids,
                        engine=theme.engine, model=theme.model, prompt=theme.prompt_version, **report)
            if progress:
                progress(n, len(clusters))
    return result


def kept_theme_codes(project: Project) -> set[int]:
    """Codes already in a theme a re-draft keeps (accepted, or a draft the analyst edited): a new
    draft groups only the other codes, so it can never produce a second copy of a kept theme."""
    return {int(c) for t in project.store.list_themes()
            if t.status == "accepted" or (t.status == "draft" and t.summary_kind == "analyst") for c in t.code_ids}


def theme_name(terms: Sequence[str], ranked: Sequence[StoredCode], taken: Iterable[str] = ()) -> str:
    """A readable draft name from what sets the theme apart: its two most distinctive terms
    ("Link workers and social prescribing"), else its main code's name. A name already used by
    another theme gets its main code in brackets, so two drafts never share a name."""
    codes = " ".join(f"{c.name} {c.definition}" for c in ranked).lower()
    # a phrase the codebook also uses names a theme best, then the codebook's words, then phrases
    order = sorted(range(len(terms)), key=lambda i: (terms[i] not in codes, len(terms[i].split()) < 2, i))
    words = [terms[i] for i in order if terms[i]][:2]
    if words:
        name = words[0][:1].upper() + words[0][1:] + (f" and {words[1]}" if len(words) > 1 else "")
    else:
        name = ranked[0].name
    used = {x.casefold() for x in taken}
    if name.casefold() in used and ranked:
        name = f"{name} ({ranked[0].name})"
    n = 2
    base = name
    while name.casefold() in used:
        name, n = f"{base} {n}", n + 1
    return name


def uncoded_excerpts(ctx: QuoteContext, codings: Iterable[list[Coding]]) -> list[Any]:
    """Excerpts no accepted coding touches, by excerpt id or by overlapping span (a coding in the
    middle of an excerpt counts): the "rest of the corpus" for distinctive terms."""
    ids: set[int] = set()
    spans: dict[int, list[tuple[int, int]]] = {}
    for cs in codings:
        for x in cs:
            if x.excerpt_id is not None:
                ids.add(int(x.excerpt_id))
            spans.setdefault(x.source_id, []).append((x.start, x.end))
    return [e for es in ctx.excerpts.values() for e in es
            if e.id not in ids and not any(s < e.end and e.start < t for s, t in spans.get(e.source_id, []))]


def _supersede_drafts(project: Project) -> None:
    """A new draft replaces untouched earlier drafts; anything the analyst accepted, rejected or
    edited stays. The removal is audited with the old content."""
    for t in project.store.list_themes(status="draft"):
        if t.summary_kind != "analyst":
            project.store.audit(project.analyst, "supersede", "theme", t.id, name=t.name, summary=t.summary,
                                code_ids=t.code_ids)
            project.store.delete_theme(t.id)


def _draft_one(project: Project, ctx: QuoteContext, codes: list[StoredCode], codings: dict[int, list[Coding]],
               vectors: np.ndarray, terms: list[str], llm: Any, cache: bool,
               taken: Sequence[str] = ()) -> tuple[Theme, dict[str, Any]]:
    ranked = sorted(codes, key=lambda c: -len(codings[c.id]))
    name = theme_name(terms, ranked, taken)
    spans = [(x.source_id, x.start, x.end) for c in codes for x in codings[c.id]]
    target = unit(vectors.mean(axis=0))
    quotes = []
    for per in (1, 2, None):  # one per participant where the data allow, relaxed to reach 3
        quotes = quotes_for_spans(project, spans, target, 6, per, ctx, group=f"Theme: {name}").quotes
        if len(quotes) >= 3:
            break
    if len(quotes) < 3:  # too few codings: top up from search, marked origin="search"
        from assistant.writing.quotes import find_quotes

        query = " ".join(f"{c.name} {c.definition}" for c in codes)
        extra = find_quotes(project, query=query, k=6, per_participant=1, ctx=ctx).quotes
        quotes += [regroup(q, name) for q in extra
                   if not any(q.source_id == x.source_id and q.start < x.end and x.start < q.end for x in quotes)
                   ][: 3 - len(quotes)]
    theme = Theme(name=name, code_ids=[c.id for c in codes], quotes=quotes, engine="offline")
    report: dict[str, Any] = {"distinctive_terms": terms, "codings": len(spans)}
    extractive = _extractive_summary(ctx, codes, codings, terms, quotes)
    if llm is None:
        return theme.model_copy(update={"summary": extractive, "summary_kind": "extractive"}), report
    from assistant.writing.ask import generate

    listing = "\n\n".join(f"[Q{i}] {q.attribution}: {q.text}" for i, q in enumerate(quotes, start=1))
    reply, prompt_id = generate(project, llm, "theme_summary", cache, theme_name=name,
                                codes=", ".join(c.name for c in codes), quotes=listing, words=SUMMARY_WORDS)
    checked = verify_text(reply, {f"Q{i}": q for i, q in enumerate(quotes, start=1)}, ctx.sources,
                          bad_citation="drop_sentence", uncited="drop")
    report.update(checked.report())
    report["sentences_checked"] = [{"text": x.text, "supported": x.supported, "reason": x.reason}
                                   for x in checked.sentences]
    from assistant.llm import model_id

    update: dict[str, Any] = {"engine": "llm", "model": model_id(llm), "prompt_version": prompt_id}
    if checked.text.strip():
        update.update(summary=checked.text, summary_kind="llm")
    else:  # nothing survived verification: say so and fall back to the extractive draft
        report["fallback"] = "extractive"
        update.update(summary=extractive, summary_kind="extractive")
    return theme.model_copy(update=update), report


def regroup(q: Any, theme_name: str) -> Any:
    """A quote moved under another theme heading (merge/split): only its group label changes."""
    return q.model_copy(update={"attributes": {**q.attributes, "_group": f"Theme: {theme_name}"}})


def _extractive_summary(ctx: QuoteContext, codes: list[StoredCode], codings: dict[int, list[Coding]],
                        terms: list[str], quotes: list) -> str:
    """Short paragraphs a reader can follow, written without a model: what the theme groups and
    how widely it is spread, what sets it apart (its distinctive terms), then one point per main
    code, each with one quote from that code's own codings. Every quote is a verified `Quote`
    (built through `assistant.verbatim`), cited with who said it and where."""
    items = [x for c in codes for x in codings[c.id]]
    kinds = Counter(ctx.sources[x.source_id].kind for x in items)
    people = {participant_key(ctx.sources[x.source_id]) for x in items if ctx.sources[x.source_id].kind == "interview"}
    sources = {x.source_id for x in items}
    ranked = sorted(codes, key=lambda c: -len(codings[c.id]))
    spread_bits = [_plural(n, k) for k, n in kinds.most_common()]
    who = f", {_plural(len(people), 'participant')} among them" if people else ""
    paras = [(
        f"Extractive draft, written without a language model. This theme brings together "
        f"{_listing([c.name for c in ranked])}: {_plural(len(items), 'accepted coding')} in "
        f"{_plural(len(sources), 'source')} ({_listing(spread_bits)}{who})."
    )]
    if terms:
        paras.append(f"What sets it apart from the rest of the corpus is talk of {_listing(terms[:5])}.")
    used: set[tuple[int, int, int]] = set()
    for c in ranked[:4]:
        spans = [(x.source_id, x.start, x.end) for x in codings[c.id]]
        q = next((q for q in quotes if (q.source_id, q.start, q.end) not in used
                  and any(s == q.source_id and a < q.end and q.start < b for s, a, b in spans)), None)
        if q is None:
            continue
        used.add((q.source_id, q.start, q.end))
        who = q.attribution or q.source_name
        where = ", ".join(x for x in (q.source_name if q.source_name not in who else "",
                                      f"line {q.line}" if q.line else "") if x)
        head = f"{c.name} ({_plural(len(codings[c.id]), 'coding')})"
        paras.append(f"{head}: \u201c{q.text}\u201d \u2014 {who}" + (f" ({where})." if where else "."))
    return "\n\n".join(paras)


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"1 {word}"
    return f"{n} {word[:-1] + 'ies' if word.endswith('y') and word[-2:] != 'ey' else word + 's'}"


def _listing(items: Sequence[str]) -> str:
    items = [str(x) for x in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --- the analyst's decisions ----------------------------------------------------------------------


def _save(project: Project, theme: StoredTheme, action: str, **details: Any) -> StoredTheme:
    with project.store.transaction():
        project.store.update_theme(theme)
        project.store.audit(project.analyst, action, "theme", theme.id, **details)
    return theme


def accept_theme(project: Project, ref: int | str) -> StoredTheme:
    t = project.store.get_theme(ref)
    return _save(project, t.model_copy(update={"status": "accepted"}), "accept", name=t.name)


def reject_theme(project: Project, ref: int | str) -> StoredTheme:
    t = project.store.get_theme(ref)
    return _save(project, t.model_copy(update={"status": "rejected"}), "reject", name=t.name)


def rename_theme(project: Project, ref: int | str, new_name: str) -> StoredTheme:
    if not new_name.strip():
        raise ThematicError("a theme needs a non-empty name")
    t = project.store.get_theme(ref)
    return _save(project, t.model_copy(update={"name": new_name.strip()}), "rename", old=t.name, new=new_name.strip())


def edit_theme_summary(project: Project, ref: int | str, summary: str) -> StoredTheme:
    t = project.store.get_theme(ref)
    return _save(project, t.model_copy(update={"summary": summary, "summary_kind": "analyst"}), "edit",
                 old_summary=t.summary, new_summary=summary)


def merge_themes(project: Project, refs: Sequence[int | str], name: str) -> StoredTheme:
    """One theme from several: codes united, quotes kept (duplicates dropped). The originals are
    removed; the audit entry keeps their content."""
    themes = [project.store.get_theme(r) for r in refs]
    if len({t.id for t in themes}) < 2:
        raise ThematicError("merging needs at least two different themes")
    code_ids = list(dict.fromkeys(c for t in themes for c in t.code_ids))
    seen, quotes = set(), []
    for q in (q for t in themes for q in t.quotes):
        if (q.source_id, q.start, q.end) not in seen:
            seen.add((q.source_id, q.start, q.end))
            quotes.append(regroup(q, name))
    with project.store.transaction():
        merged = project.store.add_theme(Theme(name=name, summary="\n\n".join(t.summary for t in themes if t.summary),
                                               summary_kind="analyst", code_ids=code_ids, quotes=quotes,
                                               engine="analyst"))
        for t in themes:
            project.store.delete_theme(t.id)
        project.store.audit(project.analyst, "merge", "theme", merged.id, name=name,
                            merged=[t.model_dump(mode="json") for t in themes])
    return merged


def split_theme(project: Project, ref: int | str, code_groups: Sequence[Sequence[int | str]],
                names: Sequence[str] | None = None) -> list[StoredTheme]:
    """Several themes from one, one per group of its codes; each keeps the quotes drawn from its
    own codes' codings, topped up from those codings."""
    t = project.store.get_theme(ref)
    groups = [[project.store.get_code(c).id for c in g] for g in code_groups]
    stray = [c for g in groups for c in g if c not in t.code_ids]
    if stray or not all(groups):
        raise ThematicError(f"split groups must be non-empty and use only the theme's codes (not {stray})")
    ctx = QuoteContext(project)
    out = []
    with project.store.transaction():
        for n, g in enumerate(groups):
            codings = accepted_codings(project, g)
            spans = {(x.source_id, x.start, x.end) for x in codings}
            label = names[n] if names and n < len(names) else " & ".join(project.store.get_code(c).name for c in g)
            kept = [regroup(q, label) for q in t.quotes if any(s == q.source_id and a < q.end and q.start < b for s, a, b in spans)]
            if len(kept) < 3 and spans:
                kept = quotes_for_spans(project, sorted(spans), label, 6, 1, ctx, group=f"Theme: {label}").quotes
            out.append(project.store.add_theme(Theme(name=label, code_ids=g, quotes=kept, summary_kind="analyst",
                                                     engine="analyst")))
        project.store.delete_theme(t.id)
        project.store.audit(project.analyst, "split", "theme", t.id, original=t.model_dump(mode="json"),
                            into=[x.id for x in out])
    return out


# --- cross-source views ---------------------------------------------------------------------------


def theme_crosstab(project: Project, theme_id: int | str) -> dict[str, Any]:
    """How a theme shows in interviews vs documents and across sectors, and who never touches it."""
    t = project.store.get_theme(theme_id)
    ctx = QuoteContext(project)
    codings = accepted_codings(project, t.code_ids)
    src = ctx.sources
    who = ctx.attributor.participant  # honours pseudonymise_attributions
    touched = {who(src[x.source_id]) for x in codings if src[x.source_id].kind == "interview"}
    everyone = {who(s) for s in src.values() if s.kind == "interview"}
    attr = lambda s, k: s.attributes.get(k) or "(none)"
    return {
        "theme": t.name,
        "codings_by_kind": dict(Counter(src[x.source_id].kind for x in codings)),
        "codings_by_sector": dict(Counter(attr(src[x.source_id], "sector") for x in codings)),
        "quotes_by_kind": dict(Counter(q.attributes.get("kind", "") for q in t.quotes)),
        "quotes_by_sector": dict(Counter(q.attributes.get("sector") or "(none)" for q in t.quotes)),
        "sources_by_kind": dict(Counter(src[s].kind for s in {x.source_id for x in codings})),
        "participants_touching": sorted(touched),
        "participants_never": sorted(everyone - touched),
    }


def coverage_matrix(project: Project, by: str = "participant", unit: str = "code") -> Any:
    """Counts of accepted codings: rows are codes (or non-rejected themes), columns are
    participants, source kinds or sectors. A pandas DataFrame the UI draws as a heat map. By
    participant, the codings of documents (sources that are nobody's words) share one column,
    `DOCUMENTS_COLUMN`, rather than passing a document off as a participant."""
    import pandas as pd

    if by not in ("participant", "kind", "sector") or unit not in ("code", "theme"):
        raise ThematicError("coverage_matrix: by is participant|kind|sector, unit is code|theme")
    from assistant.coding.segments import is_participant

    ctx = QuoteContext(project)

    def person(s: Any) -> str:  # a document is nobody's words: its codings go in one column, named so
        return ctx.attributor.participant(s) if is_participant(s) else DOCUMENTS_COLUMN

    col = {"participant": person, "kind": lambda s: s.kind,
           "sector": lambda s: s.attributes.get("sector") or "(none)"}[by]
    if unit == "code":
        rows = [(c.name, [c.id]) for c in project.store.list_codes()]
    else:
        rows = [(t.name, t.code_ids) for t in project.store.list_themes() if t.status != "rejected"]
    columns = sorted({col(s) for s in ctx.sources.values()}, key=lambda c: (c == DOCUMENTS_COLUMN, c.casefold()))
    by_code = accepted_codings_by_code(project)
    data = {name: Counter(col(ctx.sources[x.source_id]) for i in ids for x in by_code.get(int(i), [])
                          if x.source_id in ctx.sources) for name, ids in rows}
    frame = pd.DataFrame([[data[name].get(c, 0) for c in columns] for name, _ in rows],
                         index=[name for name, _ in rows], columns=columns, dtype=int)
    frame.index.name, frame.columns.name = unit, by
    return frame
