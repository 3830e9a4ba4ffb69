"""The methods report: what a methods section and a reviewer need to know about how the analysis
was done, and how AI was used in it, with every figure traceable to the audit log.

Journals now ask authors how AI was used; the audit log already knows. This module reads it and
writes it down: the corpus, the codebook's versions (each audited change is one), the engines and
models that proposed codes (names, prompt versions with their SHA-256, settings), how many
suggestions were made, accepted, edited and rejected per code and per analyst, the validation gate's
figures where it was run, agreement between coders (with whether each comparison was independent),
pseudonymisation and what left the machine, and a suggested paragraph in plain English.

Traceability: every count in the report is a `Figure` computed from audit rows selected by a query
stated in words (e.g. "action = decision.accept, not undone"), and the appendix lists each figure
with its query and the ids of the rows it counted, so a reviewer can recount it from `thematic export audit`.
Figures that are not counts of audit rows (corpus composition, agreement coefficients) say what
they were computed from. Decisions that were later undone (`decision.undo`) are not counted.

Text from the project (code names, attribute values, model names) is data: escaped with
`plain.md_escape` in Markdown, written as plain runs in DOCX."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from itertools import combinations
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from assistant.models import StoredAuditEvent, is_ai_coder, utcnow
from assistant.plain import md_escape
from assistant.project import Project

DECISION_ACTIONS = ("decision.accept", "decision.edit", "decision.reject")
UNDO = "decision.undo"
CODEBOOK_ACTIONS = ("code.add", "code.update", "code.rename", "code.merge", "code.split")
REMOTE_HINTS = ("openai", "anthropic", "azure", "google", "gemini", "mistral", "groq", "cohere", "bedrock",
                "together", "fireworks", "deepseek")
MAX_IDS_SHOWN = 40  # ids listed per appendix row before ranges are cut (the query recounts them all)


class Figure(BaseModel):
    """One number of the report, with where it came from."""

    key: str
    label: str
    value: int | float | str | None
    query: str  # in words: which audit rows (or which table) it counts
    ids: list[int] = Field(default_factory=list)  # the audit rows counted


class EngineUse(BaseModel):
    engine: str
    model: str
    prompt_version: str = ""
    prompt_sha256: str = ""
    settings: dict[str, Any] = Field(default_factory=dict)
    suggestions: int = 0
    runs: int = 0
    first: str = ""
    last: str = ""


class MethodsReport(BaseModel):
    project: str
    generated_at: str = Field(default_factory=utcnow)
    audit_rows: int = 0
    last_audit_id: int = 0
    corpus: dict[str, Any] = Field(default_factory=dict)
    codebook: dict[str, Any] = Field(default_factory=dict)
    engines: list[EngineUse] = Field(default_factory=list)
    other_ai: list[dict[str, Any]] = Field(default_factory=list)  # theme summaries, questions answered
    per_code: list[dict[str, Any]] = Field(default_factory=list)
    per_analyst: list[dict[str, Any]] = Field(default_factory=list)
    validation: list[dict[str, Any]] | None = None  # None: the gate is not available in this install
    agreement: list[dict[str, Any]] = Field(default_factory=list)
    privacy: dict[str, Any] = Field(default_factory=dict)
    figures: list[Figure] = Field(default_factory=list)
    paragraph: str = ""

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)


# --- reading the audit log ---------------------------------------------------------------------


def standing_decisions(rows: list[StoredAuditEvent]) -> list[StoredAuditEvent]:
    """Decision rows (accept, edit, reject, add) whose decision was not undone later."""
    undone = {r.details.get("decision_id") for r in rows if r.action == UNDO}
    return [r for r in rows if r.action in (*DECISION_ACTIONS, "decision.add")
            and r.details.get("decision_id") not in undone]


def _code_key(details: dict[str, Any], names: dict[int, str]) -> str:
    cid = details.get("code_id")
    if cid is not None:
        return names.get(int(cid), f"code {cid}")
    return f"(new) {details.get('proposed_name') or 'unnamed'}"


def _hash_of(engine: str, prompt_version: str, params: dict[str, Any]) -> str:
    """The prompt's SHA-256 as the suggestion recorded it (LLM engines put it in their params)."""
    return str(params.get("prompt_sha256") or "")


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sorted(params.items()) if k not in ("flags", "prompt_sha256")}


def _is_remote(model: str, pseudonymised: bool, project: Project) -> bool:
    """A call's model counts as remote if its text was pseudonymised (done only for remote models),
    its provider is a hosted one, or it is the project's configured model and that is remote."""
    if pseudonymised:
        return True
    low = model.lower()
    if any(h in low for h in REMOTE_HINTS):
        return True
    llm = project.settings.llm
    return bool(llm.is_remote and llm.model and llm.model in model)


def _provider(model: str) -> str:
    return model.split(":", 1)[0] if ":" in model else model


# --- building ----------------------------------------------------------------------------------


def build_methods_report(project: Project) -> MethodsReport:
    """Everything the report says, computed now from the store and its audit log."""
    store = project.store
    rows = store.list_audit()
    rep = MethodsReport(project=project.folder.name, audit_rows=len(rows),
                        last_audit_id=rows[-1].id if rows else 0)
    figs = rep.figures
    names = {c.id: c.name for c in store.list_codes(include_inactive=True)}

    _corpus(project, rows, rep)
    _codebook(project, rows, rep)

    creates = [r for r in rows if r.action == "suggestion.create"]
    by_suggestion = {r.entity_id: r for r in creates}
    figs.append(Figure(key="suggestions_made", label="Suggestions made by engines", value=len(creates),
                       query="action = suggestion.create", ids=[r.id for r in creates]))
    standing = standing_decisions(rows)
    undone = [r for r in rows if r.action == UNDO]
    for action, key, label in (("decision.accept", "accepted", "Suggestions accepted"),
                               ("decision.edit", "edited", "Suggestions accepted with an edit"),
                               ("decision.reject", "rejected", "Suggestions rejected"),
                               ("decision.add", "hand_codings", "Codings added by hand")):
        hit = [r for r in standing if r.action == action]
        figs.append(Figure(key=key, label=label, value=len(hit), query=f"action = {action}, not undone",
                           ids=[r.id for r in hit]))
    imported = [r for r in rows if r.action == "import.provenance"]
    figs.append(Figure(key="imported_ai_codings", label="AI-assisted codings imported with their provenance",
                       value=len(imported), query="action = import.provenance", ids=[r.id for r in imported]))
    figs.append(Figure(key="undone", label="Decisions undone", value=len(undone), query=f"action = {UNDO}",
                       ids=[r.id for r in undone]))

    # per code: the code the engine proposed (an edit may have moved the coding to another code)
    per_code: dict[str, Counter] = defaultdict(Counter)
    code_ids: dict[str, list[int]] = defaultdict(list)
    for r in creates:
        k = _code_key(r.details, names)
        per_code[k]["made"] += 1
        code_ids[k].append(r.id)
    for r in standing:
        if r.action == "decision.add":
            k = _code_key(r.details, names)
            per_code[k]["hand"] += 1
        else:
            made = by_suggestion.get(r.entity_id)
            k = _code_key(made.details if made else {"code_id": r.details.get("original_code_id",
                                                                               r.details.get("code_id"))}, names)
            per_code[k][r.action.split(".")[1]] += 1
        code_ids[k].append(r.id)
    rep.per_code = [{"code": k, "made": c["made"], "accepted": c["accept"], "edited": c["edit"],
                     "rejected": c["reject"], "hand": c["hand"], "audit_ids": code_ids[k]}
                    for k, c in sorted(per_code.items(), key=lambda kv: kv[0].casefold())]

    per_analyst: dict[str, Counter] = defaultdict(Counter)
    analyst_ids: dict[str, list[int]] = defaultdict(list)
    for r in standing:
        per_analyst[r.actor][r.action.split(".")[1]] += 1
        analyst_ids[r.actor].append(r.id)
    rep.per_analyst = [{"analyst": a, "accepted": c["accept"], "edited": c["edit"], "rejected": c["reject"],
                        "hand": c["add"], "audit_ids": analyst_ids[a]} for a, c in sorted(per_analyst.items())]

    _engines(rows, creates, rep)
    _validation(project, rows, rep)
    _agreement(project, rows, rep)
    _privacy(project, rows, rep)
    rep.paragraph = suggested_paragraph(rep)
    return rep


def _corpus(project: Project, rows: list[StoredAuditEvent], rep: MethodsReport) -> None:
    sources = project.store.list_sources()
    kinds = Counter(s.kind for s in sources)
    attrs: dict[str, Counter] = defaultdict(Counter)
    for s in sources:
        for k, v in s.attributes.items():
            attrs[k][str(v)] += 1
    ingests = [r for r in rows if r.action == "ingest"]
    words = sum(len(t.split()) for t in project.store.texts_of([s.id for s in sources]).values()) if sources else 0
    rep.corpus = {"sources": len(sources), "kinds": dict(sorted(kinds.items())), "words": words,
                  "attributes": {k: dict(sorted(c.items())) for k, c in sorted(attrs.items())}}
    rep.figures.append(Figure(key="sources", label="Sources in the corpus", value=len(sources),
                              query="sources table (ingest rows: action = ingest)", ids=[r.id for r in ingests]))


def _codebook(project: Project, rows: list[StoredAuditEvent], rep: MethodsReport) -> None:
    changes = [r for r in rows if r.action in CODEBOOK_ACTIONS]
    active = project.store.list_codes()
    kinds = Counter(r.action for r in changes)
    rep.codebook = {"codes": len(active), "versions": len(changes), "changes": dict(sorted(kinds.items())),
                    "first": changes[0].time if changes else "", "last": changes[-1].time if changes else "",
                    "history": [{"version": i + 1, "audit_id": r.id, "time": r.time, "actor": r.actor,
                                 "action": r.action, "code": str(r.details.get("name") or r.details.get("code")
                                                                 or r.entity_id or "")}
                                for i, r in enumerate(changes)]}
    rep.figures.append(Figure(key="codebook_versions", label="Codebook versions (audited changes)",
                              value=len(changes), query="action in " + ", ".join(CODEBOOK_ACTIONS),
                              ids=[r.id for r in changes]))


def _engines(rows: list[StoredAuditEvent], creates: list[StoredAuditEvent], rep: MethodsReport) -> None:
    groups: dict[tuple, EngineUse] = {}
    runs: dict[tuple, set] = defaultdict(set)
    for r in creates:
        d = r.details
        params = d.get("params") or {}
        key = (d.get("engine", ""), d.get("model", ""), d.get("prompt_version", ""),
               _hash_of(d.get("engine", ""), d.get("prompt_version", ""), params),
               json.dumps(_settings(params), sort_keys=True, default=str))
        use = groups.get(key)
        if use is None:
            use = groups[key] = EngineUse(engine=key[0], model=key[1], prompt_version=key[2], prompt_sha256=key[3],
                                          settings=_settings(params), first=r.time)
        use.suggestions += 1
        use.last = r.time
        if d.get("run_id"):
            runs[key].add(d["run_id"])
    for key, use in groups.items():
        use.runs = len(runs[key])
    rep.engines = list(groups.values())
    drafts = [r for r in rows if r.entity_type == "theme" and r.action == "draft"]
    by_model = Counter((r.details.get("engine") or "extractive", r.details.get("model") or "",
                        r.details.get("prompt") or "") for r in drafts)
    rep.other_ai = [{"use": "theme drafts", "engine": e, "model": m, "prompt_version": p, "count": n}
                    for (e, m, p), n in sorted(by_model.items())]
    asks = [r for r in rows if r.action == "ask"]
    for p, n in sorted(Counter(str(r.details.get("prompt") or "") for r in asks).items()):
        rep.other_ai.append({"use": "questions answered (ask)", "engine": "llm", "model": "", "prompt_version": p,
                             "count": n})
    rep.figures.append(Figure(key="theme_drafts", label="Themes drafted", value=len(drafts),
                              query="entity = theme, action = draft", ids=[r.id for r in drafts]))
    rep.figures.append(Figure(key="questions", label="Questions answered from the corpus", value=len(asks),
                              query="action = ask", ids=[r.id for r in asks]))


def _validation(project: Project, rows: list[StoredAuditEvent], rep: MethodsReport) -> None:
    """The gate's saved reports (run or accepted), if this install has the gate."""
    if not hasattr(project.store, "list_validations"):
        return
    runs = [r for r in rows if r.action == "validation.run"]
    rep.validation = []
    for v in project.store.list_validations():
        report = v.get("report") or {}
        if not report:
            continue
        ids = [r.id for r in runs if r.entity_id == v["id"]]
        rep.validation.append({"id": v["id"], "status": v.get("status"), "coder": v.get("coder"),
                               "engine": v.get("engine") or report.get("engine"),
                               "model": v.get("model") or report.get("model"), "bar": v.get("bar") or {},
                               "summary": report.get("summary") or {}, "units": len(report.get("analyst") or {}),
                               "audit_ids": ids})
    rep.figures.append(Figure(key="validation_runs", label="Validation-gate runs", value=len(runs),
                              query="action = validation.run", ids=[r.id for r in runs]))


def _agreement(project: Project, rows: list[StoredAuditEvent], rep: MethodsReport) -> None:
    """Agreement between each pair of analysts who both coded, with whether it was independent."""
    from assistant.coding.agreement import agreement_report
    from assistant.coding.blind import comparison_independence

    counts = Counter(c.coder for c in project.store.list_codings())
    analysts = sorted(a for a, n in counts.items() if n and not is_ai_coder(a))
    standing = standing_decisions(rows)
    for a, b in combinations(analysts, 2):
        ag = agreement_report(project, a, b)
        if not ag.excerpts_compared:
            continue
        ind = comparison_independence(project, a, b)
        rep.agreement.append({
            "coder_a": a, "coder_b": b, "excerpts": ag.excerpts_compared, "codes": ag.codes_compared,
            "kappa": ag.overall.kappa, "ac1": ag.overall.ac1, "macro_kappa": ag.macro_kappa,
            "percent": ag.overall.percent_agreement, "independent": ind.independent, "reasons": ind.reasons,
            "audit_ids": [r.id for r in standing if r.actor in (a, b) and r.action != "decision.reject"],
        })


def _privacy(project: Project, rows: list[StoredAuditEvent], rep: MethodsReport) -> None:
    items = [r for r in rows if r.action == "suggestion.run_item" and r.details.get("call")]
    calls = remote_calls = pseud = cached = 0
    remote_ids: list[int] = []
    pseud_ids: list[int] = []
    providers: Counter = Counter()
    for r in items:
        call = r.details["call"] or {}
        n = int(call.get("model_calls") or (0 if call.get("cached") else 1))
        calls += n
        cached += bool(call.get("cached"))
        model = str(call.get("model") or r.details.get("model") or "")
        if n and _is_remote(model, bool(call.get("pseudonymised")), project):
            remote_calls += n
            remote_ids.append(r.id)
            providers[_provider(model)] += n
            if call.get("pseudonymised"):
                pseud += n
                pseud_ids.append(r.id)
    gate = [r for r in rows if r.action == "validation.run"
            and _is_remote(str(r.details.get("model") or ""), False, project)]
    gate_units = sum(int(r.details.get("units") or 0) for r in gate)
    gate_providers = sorted({_provider(str(r.details.get("model") or "")) for r in gate})
    mcp = [r for r in rows if r.actor.startswith("mcp:") and r.entity_type == "mcp"]
    clients = Counter(r.actor[4:] for r in mcp)
    exports = [r for r in rows if r.action.startswith("export")]
    llm = project.settings.llm
    rep.privacy = {"pseudonymise_remote": bool(project.settings.privacy.pseudonymise_remote),
                   "model_provider": llm.provider, "model": llm.model or "", "model_is_remote": bool(llm.is_remote),
                   "remote_allowed": bool(llm.allow_remote), "model_calls": calls, "cached_items": cached,
                   "remote_calls": remote_calls, "pseudonymised_calls": pseud,
                   "remote_validation_excerpts": gate_units, "validation_providers": gate_providers,
                   "providers": dict(sorted(providers.items())), "mcp_clients": dict(sorted(clients.items())),
                   "mcp_chars": sum(int(r.details.get("returned_chars") or 0) for r in mcp),
                   "exports": dict(sorted(Counter(r.action for r in exports).items()))}
    figs = rep.figures
    figs.append(Figure(key="model_calls", label="Model calls for suggestions (not from cache)", value=calls,
                       query="action = suggestion.run_item: sum of call.model_calls", ids=[r.id for r in items]))
    figs.append(Figure(key="remote_calls", label="Model calls that sent text off this machine", value=remote_calls,
                       query="suggestion.run_item rows whose model is remote: sum of call.model_calls",
                       ids=remote_ids))
    figs.append(Figure(key="pseudonymised_calls", label="Of those, pseudonymised", value=pseud,
                       query="the same rows with call.pseudonymised", ids=pseud_ids))
    figs.append(Figure(key="remote_validation_excerpts", label="Excerpts sent to a remote model by the validation gate",
                       value=gate_units, query="action = validation.run with a remote model: sum of units",
                       ids=[r.id for r in gate]))
    figs.append(Figure(key="mcp_calls", label="Calls from assistants through the MCP server", value=len(mcp),
                       query="actor = mcp:<client>, entity = mcp", ids=[r.id for r in mcp]))
    figs.append(Figure(key="exports", label="Files exported", value=len(exports), query="action = export*",
                       ids=[r.id for r in exports]))


# --- the suggested paragraph -------------------------------------------------------------------


def _n(value: int, one: str, many: str | None = None) -> str:
    return f"{value:,} {one if value == 1 else (many or one + 's')}"


def _list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def suggested_paragraph(rep: MethodsReport) -> str:
    """A plain-English draft for the methods section (the author edits it)."""
    f = {x.key: x.value for x in rep.figures}
    c = rep.corpus
    kinds = _list([_n(n, k.replace("_", " ")) for k, n in c.get("kinds", {}).items()])
    out = [f"The corpus comprised {_n(c.get('sources', 0), 'source')}" + (f" ({kinds})" if kinds else "") +
           f", about {c.get('words', 0):,} words. Coding used a codebook of {_n(rep.codebook.get('codes', 0), 'code')}, "
           f"revised {_n(rep.codebook.get('versions', 0), 'time')} during the analysis."]
    if rep.engines:
        models = _list(sorted({f"{e.engine} ({e.model})" if e.model else e.engine for e in rep.engines}))
        decided = int(f["accepted"]) + int(f["edited"]) + int(f["rejected"])  # type: ignore[arg-type]
        out.append(
            f"Code suggestions were generated with the thematic assistant using {models}; "
            f"{_n(int(f['suggestions_made']), 'suggestion')} were made, of which analysts reviewed {decided:,}: "  # type: ignore[arg-type]
            f"{f['accepted']:,} accepted as proposed, {f['edited']:,} accepted after editing and "
            f"{f['rejected']:,} rejected. No suggestion became a coding without an analyst's decision.")
    else:
        out.append("No AI code suggestions were used; all coding was done by the analysts.")
    out.append(f"Analysts added {_n(int(f['hand_codings']), 'coding')} by hand.")  # type: ignore[arg-type]
    for v in rep.validation or []:
        s = v.get("summary") or {}
        if s:
            out.append(f"Before coding at scale the engine was validated against an analyst on a blind sample of "
                       f"{v.get('units', 0)} excerpts; {s.get('passes', 0)} of {s.get('assessed', 0)} assessed codes "
                       f"met the agreement bar{_bar(v.get('bar') or {})} (mean kappa {_fmt(s.get('mean_kappa'))}).")
            break
    for a in rep.agreement:
        ind = "independently" if a["independent"] else "not independently (see the report)"
        out.append(f"Two analysts ({a['coder_a']}, {a['coder_b']}) coded {_n(a['excerpts'], 'excerpt')} in common, {ind}; "
                   f"Cohen's kappa was {_fmt(a['kappa'])}.")
    p = rep.privacy
    if p.get("remote_calls") or p.get("remote_validation_excerpts"):
        prov = _list(list(p.get("providers", {})))
        if p.get("remote_calls"):
            out.append(f"{_n(p['remote_calls'], 'model call')} sent excerpts to a hosted model ({prov}); "
                       f"{p['pseudonymised_calls']:,} of them were pseudonymised first.")
        if p.get("remote_validation_excerpts"):
            out.append(f"The validation gate sent {_n(p['remote_validation_excerpts'], 'excerpt')} to a hosted "
                       f"model ({_list(p.get('validation_providers') or [])}).")
    else:
        out.append("All models ran on the researchers' own machine; no text was sent to an external service.")
    if p.get("mcp_clients"):
        out.append(f"The corpus was also queried from {_list(list(p['mcp_clients']))} through the assistant's "
                   "MCP server; those calls are recorded in the audit log.")
    out.append(f"Every figure here is recounted from the project's audit log ({rep.audit_rows:,} entries).")
    return " ".join(out)


def _bar(bar: dict[str, Any]) -> str:
    if not bar.get("metric"):
        return ""
    low = "lower bound of " if bar.get("bound") == "low" else ""
    return f" ({low}{bar['metric']} at least {bar.get('minimum')})"


def _fmt(x: Any) -> str:
    return "n/a" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)


def id_ranges(ids: Iterable[int], limit: int = MAX_IDS_SHOWN) -> str:
    """[1,2,3,7,9,10] -> "1-3, 7, 9-10" (cut after `limit` ranges, with how many ids were left)."""
    ids = sorted(set(ids))
    parts: list[str] = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    if len(parts) > limit:
        return ", ".join(parts[:limit]) + f", ... ({len(parts) - limit} more ranges)"
    return ", ".join(parts) or "none"


# --- Markdown and DOCX -------------------------------------------------------------------------


def sections(rep: MethodsReport) -> list[tuple[str, list[str], list[list[str]] | None]]:
    """(heading, paragraphs, table rows with a header row first) per section; the one layout both
    formats render, so the Markdown and the DOCX say the same. Cells and paragraphs are plain text
    (data); each format escapes them its own way."""
    out: list[tuple[str, list[str], list[list[str]] | None]] = []
    out.append(("Suggested paragraph for the methods section", [rep.paragraph], None))
    c = rep.corpus
    rows = [["Kind", "Sources"]] + [[k, str(n)] for k, n in c.get("kinds", {}).items()]
    out.append(("Corpus", [f"{c.get('sources', 0)} sources, about {c.get('words', 0):,} words."], rows))
    if c.get("attributes"):
        arows = [["Attribute", "Value", "Sources"]]
        for k, vals in c["attributes"].items():
            arows += [[k, v, str(n)] for v, n in vals.items()]
        out.append(("Sources by attribute", [], arows))
    cb = rep.codebook
    text = [f"{cb.get('codes', 0)} active codes; {cb.get('versions', 0)} audited changes to the codebook"
            + (f" between {cb['first']} and {cb['last']}." if cb.get("first") else ".")]
    hrows = [["Version", "Audit id", "Time", "Who", "Change", "Code"]] + [
        [str(h["version"]), str(h["audit_id"]), h["time"], h["actor"], h["action"], h["code"]]
        for h in cb.get("history", [])]
    out.append(("Codebook versions", text, hrows if len(hrows) > 1 else None))
    erows = [["Engine", "Model", "Prompt version", "Prompt SHA-256", "Settings", "Suggestions", "Runs", "First", "Last"]]
    erows += [[e.engine, e.model, e.prompt_version, e.prompt_sha256 or "-",
               json.dumps(e.settings, sort_keys=True, default=str), str(e.suggestions), str(e.runs), e.first, e.last]
              for e in rep.engines]
    other = [f"{o['use']}: {o['count']} with {o['engine']}{' ' + o['model'] if o['model'] else ''}"
             f"{' (prompt ' + o['prompt_version'] + ')' if o['prompt_version'] else ''}" for o in rep.other_ai]
    out.append(("Engines and models", other or ([] if rep.engines else ["No engine proposed codes."]),
                erows if rep.engines else None))
    prow = [["Code", "Made", "Accepted", "Edited", "Rejected", "By hand"]] + [
        [r["code"], str(r["made"]), str(r["accepted"]), str(r["edited"]), str(r["rejected"]), str(r["hand"])]
        for r in rep.per_code]
    out.append(("Suggestions and decisions per code",
                ["Counted by the code the engine proposed; decisions later undone are not counted."],
                prow if rep.per_code else None))
    arow = [["Analyst", "Accepted", "Edited", "Rejected", "By hand"]] + [
        [r["analyst"], str(r["accepted"]), str(r["edited"]), str(r["rejected"]), str(r["hand"])]
        for r in rep.per_analyst]
    out.append(("Decisions per analyst", [], arow if rep.per_analyst else None))
    if rep.validation is not None:
        vrows = [["Validation", "Status", "Engine", "Model", "Units", "Codes assessed", "Pass", "Below bar",
                  "Mean kappa", "Mean AC1"]]
        for v in rep.validation:
            s = v.get("summary") or {}
            vrows.append([str(v["id"]), str(v.get("status") or ""), str(v.get("engine") or ""), str(v.get("model") or ""),
                          str(v.get("units", 0)), str(s.get("assessed", "")), str(s.get("passes", "")),
                          str(s.get("below_bar", "")), _fmt(s.get("mean_kappa")), _fmt(s.get("mean_ac1"))])
        out.append(("Validation gate", [] if rep.validation else ["The validation gate was not run."],
                    vrows if rep.validation else None))
    grows = [["Coder A", "Coder B", "Excerpts", "Codes", "Kappa", "Macro kappa", "Independent", "Why not"]] + [
        [a["coder_a"], a["coder_b"], str(a["excerpts"]), str(a["codes"]), _fmt(a["kappa"]), _fmt(a["macro_kappa"]),
         "yes" if a["independent"] else "no", " ".join(a["reasons"])] for a in rep.agreement]
    out.append(("Agreement between coders", [] if rep.agreement else ["No two analysts coded the same excerpts."],
                grows if rep.agreement else None))
    p = rep.privacy
    ptext = [
        (f"Configured model: {' '.join(x for x in (p.get('model_provider'), p.get('model')) if x)} ("
        f"{'remote' if p.get('model_is_remote') else 'local'}; remote use "
        f"{'allowed' if p.get('remote_allowed') else 'not allowed'}). Pseudonymisation before remote calls: "
        f"{'on' if p.get('pseudonymise_remote') else 'off'}."),
        f"Model calls: {p.get('model_calls', 0)}; sent off this machine: {p.get('remote_calls', 0)}"
        f" (pseudonymised: {p.get('pseudonymised_calls', 0)})"
        + (f"; providers: {', '.join(f'{k} ({v})' for k, v in p['providers'].items())}." if p.get("providers") else "."),
    ]
    if p.get("mcp_clients"):
        ptext.append("MCP clients: " + ", ".join(f"{k} ({v} calls)" for k, v in p["mcp_clients"].items())
                     + f"; {p.get('mcp_chars', 0):,} characters returned.")
    if p.get("exports"):
        ptext.append("Exports written: " + ", ".join(f"{k} ({v})" for k, v in p["exports"].items()) + ".")
    out.append(("Pseudonymisation and what left the machine", ptext, None))
    frows = [["Figure", "Value", "Audit query", "Rows", "Audit ids"]] + [
        [f.label, _fmt(f.value), f.query, str(len(f.ids)), id_ranges(f.ids)] for f in rep.figures]
    out.append(("Appendix: where each figure comes from",
                [(f"Audit log rows 1-{rep.last_audit_id} ({rep.audit_rows} entries) as of {rep.generated_at}. "
                 "Recount any figure from `thematic export audit FILE.jsonl` (each row has its id).")], frows))
    return out


def to_markdown(rep: MethodsReport) -> str:
    lines = [f"# Methods report: {md_escape(rep.project)}", "", f"Generated {md_escape(rep.generated_at)} by thematic.", ""]
    for heading, paras, table in sections(rep):
        lines += [f"## {md_escape(heading)}", ""]
        for p in paras:
            lines += [md_escape(p), ""]
        if table:
            lines.append("| " + " | ".join(md_escape(h) for h in table[0]) + " |")
            lines.append("|" + "---|" * len(table[0]))
            for row in table[1:]:
                lines.append("| " + " | ".join(md_escape(cell).replace("\\\n", " ") for cell in row) + " |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def docx_text(text: str) -> str:
    """Text as a DOCX run can hold it: characters XML 1.0 forbids (a document's stray control
    characters) shown as `\\x0b`-style escapes rather than failing the whole report."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def to_docx(rep: MethodsReport, path: Path) -> None:
    """A Word document with real headings and tables; every value a plain run."""
    from docx import Document

    from index.storage import write_file_atomic

    doc = Document()
    doc.add_heading(docx_text(f"Methods report: {rep.project}"), level=0)
    doc.add_paragraph(f"Generated {rep.generated_at} by thematic.")
    for heading, paras, table in sections(rep):
        doc.add_heading(heading, level=1)
        for p in paras:
            doc.add_paragraph(docx_text(p))
        if table:
            t = doc.add_table(rows=len(table), cols=len(table[0]))
            t.style = "Table Grid"
            for i, row in enumerate(table):
                for j, cell in enumerate(row):
                    t.cell(i, j).text = docx_text(cell)
                    if i == 0:
                        for run in t.cell(i, j).paragraphs[0].runs:
                            run.bold = True
    write_file_atomic(Path(path), lambda tmp: doc.save(str(tmp)))


def write_methods_report(project: Project, path: str | Path | None = None, fmt: str | None = None
                         ) -> tuple[MethodsReport, str | None]:
    """Build the report and write it (Markdown or DOCX, by `fmt` or the file's suffix); returns the
    report and, for Markdown without a path, its text. The export is audited."""
    from index.storage import write_bytes_atomic

    rep = build_methods_report(project)
    fmt = (fmt or (Path(path).suffix.lstrip(".").lower() if path else "md")).replace("markdown", "md")
    if fmt not in ("md", "docx"):
        from assistant.errors import ThematicError

        raise ThematicError(f"methods report format {fmt!r}: use .md or .docx")
    text = None
    if fmt == "docx":
        if path is None:
            from assistant.errors import ThematicError

            raise ThematicError("a DOCX methods report needs --out FILE.docx")
        to_docx(rep, Path(path))
    else:
        text = to_markdown(rep)
        if path is not None:
            write_bytes_atomic(Path(path), text.encode("utf-8"))
    project.store.audit(project.analyst, "export", "methods_report", None, format=fmt,
                        path=str(path) if path else None, audit_through=rep.last_audit_id)
    return rep, text
