"""Merge another analyst's work into a team project: a REFI-QDA `.qdpx` (from NVivo, ATLAS.ti,
MAXQDA, QualCoder or thematic) or another thematic project folder.

Nothing is dropped silently: `plan_merge` lists every coding and memo with where it goes, or why it
cannot go anywhere, before anything is written; `apply_merge` writes the plan in one transaction,
audited. Matching is explicit and in this order:
- a source by GUID (the GUID this project exports it under, or the one it was imported with),
  then by the SHA-256 of its text; a source with this project's name but another text is NOT
  matched (the words would not be where the codings say) and its codings are listed as unplaceable;
- a code by the lead's mapping (`code_map`, old name -> name here), then GUID, then name
  (case-insensitive); an unmatched code is added to the codebook (listed as "new code");
- a coder by the lead's mapping (`coder_map`), then GUID, then the same name; otherwise the coder
  comes in under their own name (listed as "new coder"), so two analysts who both called themselves
  "coder1" are never silently folded into one: the lead maps one of them.
A coding already here (same GUID, or same source, code, coder and span) is listed as already
present and not written twice. The merge id is the SHA-256 of the file (or of the other project's
contents) with the mappings, recorded in the same transaction as the writes, so the same merge
applied twice, or by two leads at once, is written once: the second is refused with who did it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from assistant.coding.codebook import name_key
from assistant.errors import ExchangeError, ThematicError
from assistant.guids import norm_guid
from assistant.models import Code, Coding, Memo
from assistant.people.roles import require_role
from assistant.project import DB_NAME, SETTINGS_NAME, Project

Action = Literal["add", "present", "unplaceable"]


# --- what comes in ------------------------------------------------------------------------------


@dataclass
class InSource:
    key: str
    name: str
    text: str
    guids: set[str] = field(default_factory=set)


@dataclass
class InCode:
    key: str
    name: str
    guid: str = ""
    parent: str | None = None  # key of the parent code
    definition: str = ""


@dataclass
class InCoding:
    guid: str
    source: str  # InSource.key
    code: str  # InCode.key
    coder: str
    start: int
    end: int


@dataclass
class InMemo:
    guid: str
    text: str
    author: str
    target_type: str  # project, code, source
    target: str = ""  # key of the code or source


@dataclass
class MergeInput:
    origin: str
    digest: str
    sources: list[InSource] = field(default_factory=list)
    codes: list[InCode] = field(default_factory=list)
    codings: list[InCoding] = field(default_factory=list)
    memos: list[InMemo] = field(default_factory=list)
    coder_guids: dict[str, str] = field(default_factory=dict)  # name -> guid
    warnings: list[str] = field(default_factory=list)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_qdpx(path: str | Path, offsets: str = "chars", limits=None) -> MergeInput:
    """A .qdpx, parsed (bounded, checked) by the REFI-QDA importer, as merge input."""
    from assistant.exchange.refi import parse_qdpx

    path = Path(path)
    parsed = parse_qdpx(path, offsets=offsets, limits=limits)  # type: ignore[arg-type]
    out = MergeInput(origin=str(path), digest=_file_digest(path), warnings=list(parsed.warnings))
    for s in parsed.sources:
        out.sources.append(InSource(key=s.guid, name=s.name, text=s.text, guids={norm_guid(s.guid)}))
        out.codings += [InCoding(guid=c.guid, source=s.guid, code=c.code, coder=c.coder, start=c.start, end=c.end)
                        for c in s.codings]
    out.codes = [InCode(key=c.guid, name=c.name, guid=c.guid, parent=c.parent, definition=c.definition)
                 for c in parsed.codes]
    out.coder_guids = {n: norm_guid(g) for n, g in parsed.user_guids.items() if g}
    for note in parsed.notes.values():
        targets = note.targets or [("project", "")]
        kind, key = targets[0]
        if kind not in ("project", "code", "source"):
            kind, key = "project", ""  # a note on a coding: kept, on the project, and said so
            out.warnings.append(f"memo {note.name or note.guid!r} was on a coding; it is merged as a project memo")
        out.memos.append(InMemo(guid=note.guid, text=note.text, author=note.author or "import",
                                target_type=kind, target=key))
    return out


def read_project(folder: str | Path) -> MergeInput:
    """Another thematic project folder (opened read-only in spirit: nothing is written to it)."""
    from assistant.exchange.refi.guids import source_guid

    folder = Path(folder).expanduser().resolve()
    other = Project.open(folder)
    try:
        store = other.store
        h = hashlib.sha256()
        out = MergeInput(origin=str(folder), digest="")
        code_guids = {k: norm_guid(v) for k, v in store.entity_guids("codes").items()}
        coding_guids = {k: norm_guid(v) for k, v in store.entity_guids("codings").items()}
        out.coder_guids = {k: norm_guid(v) for k, v in store.entity_guids("coders").items()}
        for s in store.list_sources(with_text=True):
            guids = {norm_guid(source_guid(store, s.name))}
            if s.path.startswith("qdpx:"):
                guids.add(norm_guid(s.path[5:]))
            out.sources.append(InSource(key=str(s.id), name=s.name, text=s.text, guids=guids))
            h.update(f"s{s.id}\x1f{s.name}\x1f{s.text}\x1e".encode())
        for c in store.list_codes(include_inactive=False):
            out.codes.append(InCode(key=str(c.id), name=c.name, guid=code_guids.get(c.id, ""),
                                    parent=str(c.parent_id) if c.parent_id else None, definition=c.definition))
            h.update(f"c{c.id}\x1f{c.name}\x1f{c.parent_id}\x1e".encode())
        active = {c.id for c in store.list_codes()}
        for c in store.list_codings():
            if c.code_id not in active:
                out.warnings.append(f"coding {c.id} uses an inactive code; skipped")
                continue
            out.codings.append(InCoding(guid=coding_guids.get(c.id, f"{folder}:{c.id}"), source=str(c.source_id),
                                        code=str(c.code_id), coder=c.coder, start=c.start, end=c.end))
            h.update(f"k{c.id}\x1f{c.coder}\x1f{c.code_id}\x1f{c.start}\x1f{c.end}\x1e".encode())
        for m in store.list_memos():
            kind = m.target_type if m.target_type in ("project", "code", "source") else "project"
            out.memos.append(InMemo(guid=f"{folder}:memo:{m.id}", text=m.text, author=m.author, target_type=kind,
                                    target=str(m.target_id) if kind != "project" and m.target_id else ""))
            h.update(f"m{m.id}\x1f{m.text}\x1e".encode())
        out.digest = h.hexdigest()
        return out
    finally:
        other.close()


def read_input(path: str | Path) -> MergeInput:
    path = Path(path).expanduser()
    if path.is_dir():
        if not ((path / DB_NAME).exists() or (path / SETTINGS_NAME).exists()):  # a server project has no .db
            raise ExchangeError(f"{path} is a folder but not a thematic project (no {DB_NAME} or {SETTINGS_NAME})")
        return read_project(path)
    if not path.is_file():
        raise ExchangeError(f"{path}: no such file or folder")
    if path.suffix.lower() != ".qdpx":
        raise ExchangeError(f"{path.name}: merge takes a .qdpx file or a thematic project folder")
    return read_qdpx(path)


# --- the plan -----------------------------------------------------------------------------------------


class PlanRow(BaseModel):
    kind: Literal["source", "code", "coder", "coding", "memo"]
    what: str
    action: Action
    to: str = ""
    reason: str = ""


class MergePlan(BaseModel):
    merge_id: str
    origin: str
    rows: list[PlanRow] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self.rows:
            out.setdefault(r.kind, {}).setdefault(r.action, 0)
            out[r.kind][r.action] += 1
        return out

    @property
    def unplaceable(self) -> list[PlanRow]:
        return [r for r in self.rows if r.action == "unplaceable"]


@dataclass
class _Resolved:
    plan: MergePlan
    source_ids: dict[str, int]
    code_ids: dict[str, int | None]  # None: a new code to add
    new_codes: list[InCode]
    coders: dict[str, str]
    codings: list[tuple[InCoding, int, str]]  # (coding, source id, coder) to add
    memos: list[tuple[InMemo, str, int | None, str]]  # (memo, target type, target id, author)


def _merge_id(inp: MergeInput, coder_map: Mapping[str, str], code_map: Mapping[str, str]) -> str:
    key = json.dumps([inp.digest, sorted(coder_map.items()), sorted(code_map.items())])
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _resolve(project: Project, inp: MergeInput, coder_map: Mapping[str, str], code_map: Mapping[str, str]) -> _Resolved:
    from assistant.exchange.refi.guids import source_guid

    store = project.store
    plan = MergePlan(merge_id=_merge_id(inp, coder_map, code_map), origin=inp.origin, warnings=list(inp.warnings))
    rows = plan.rows
    # sources
    here = store.list_sources(with_text=True)
    by_guid: dict[str, int] = {}
    for s in here:
        by_guid[norm_guid(source_guid(store, s.name))] = s.id
        if s.path.startswith("qdpx:"):
            by_guid[norm_guid(s.path[5:])] = s.id
    by_hash = {_text_hash(s.text): s.id for s in here}
    names = {s.id: s.name for s in here}
    texts = {s.id: s.text for s in here}
    by_name = {s.name: s.id for s in here}
    source_ids: dict[str, int] = {}
    unplaced_sources: dict[str, str] = {}
    for s in inp.sources:
        sid = next((by_guid[g] for g in s.guids if g in by_guid), None)
        how = "GUID"
        if sid is not None and texts[sid] != s.text:
            sid = None
        if sid is None:
            sid, how = by_hash.get(_text_hash(s.text)), "text"
        if sid is not None:
            source_ids[s.key] = sid
            rows.append(PlanRow(kind="source", what=s.name, action="present", to=names[sid], reason=f"matched by {how}"))
            continue
        reason = (f"a source named {s.name!r} is here but its text differs" if s.name in by_name
                  else "not in this project: ingest it first, then merge again")
        unplaced_sources[s.key] = reason
        rows.append(PlanRow(kind="source", what=s.name, action="unplaceable", reason=reason))
    # codes
    codes_here = store.code_guid_rows()
    active = [c for c in codes_here if c["status"] == "active"]
    code_by_guid = {norm_guid(c["guid"]): c for c in active if c["guid"]}
    code_by_name = {name_key(c["name"]): c for c in active}
    code_map_keys = {name_key(k): v for k, v in code_map.items()}
    used_map: set[str] = set()
    code_ids: dict[str, int | None] = {}
    new_codes: list[InCode] = []
    for c in inp.codes:
        target, how = None, ""
        if name_key(c.name) in code_map_keys:
            want = code_map_keys[name_key(c.name)]
            used_map.add(name_key(c.name))
            target = code_by_name.get(name_key(want))
            if target is None:
                raise ThematicError(f"--map code:{c.name}={want}: there is no code {want!r} here")
            how = "mapped by the lead"
        elif c.guid and norm_guid(c.guid) in code_by_guid:
            target, how = code_by_guid[norm_guid(c.guid)], "matched by GUID"
        elif name_key(c.name) in code_by_name:
            target, how = code_by_name[name_key(c.name)], "matched by name"
        if target is not None:
            code_ids[c.key] = int(target["id"])
            rows.append(PlanRow(kind="code", what=c.name, action="present", to=target["name"], reason=how))
        else:
            code_ids[c.key] = None
            new_codes.append(c)
            rows.append(PlanRow(kind="code", what=c.name, action="add", to=c.name, reason="new code"))
    for k in set(code_map_keys) - used_map:
        plan.warnings.append(f"--map code:{k}=...: the file has no code of that name")
    # coders
    coder_guids_here = {norm_guid(c["guid"]): c["name"] for c in store.list_coders() if c.get("guid")}
    coder_names_here = {c["name"] for c in store.list_coders()}
    coders: dict[str, str] = {}
    for name in sorted({c.coder for c in inp.codings} | {m.author for m in inp.memos}):
        guid = inp.coder_guids.get(name, "")
        if name in coder_map:
            coders[name] = coder_map[name]
            rows.append(PlanRow(kind="coder", what=name, action="present" if coder_map[name] in coder_names_here
                                else "add", to=coder_map[name], reason="mapped by the lead"))
        elif guid and guid in coder_guids_here:
            coders[name] = coder_guids_here[guid]
            rows.append(PlanRow(kind="coder", what=name, action="present", to=coders[name], reason="matched by GUID"))
        elif name in coder_names_here:
            coders[name] = name
            rows.append(PlanRow(kind="coder", what=name, action="present", to=name,
                                reason="same name (map it with --map coder:OLD=NEW if it is another person)"))
        else:
            coders[name] = name
            rows.append(PlanRow(kind="coder", what=name, action="add", to=name, reason="new coder"))
    for k in set(coder_map) - set(coders):
        plan.warnings.append(f"--map coder:{k}=...: the file has no coder of that name")
    # codings
    src_names = {s.key: s.name for s in inp.sources}
    code_names = {c.key: c.name for c in inp.codes}
    here_code_names = {int(c["id"]): c["name"] for c in codes_here}
    existing_guids = store.coding_guids()
    existing = {(c.source_id, c.code_id, c.coder, c.start, c.end) for c in store.list_codings(status=None)}
    to_add: list[tuple[InCoding, int, str]] = []
    seen: set[tuple] = set()
    for c in inp.codings:
        what = f"{src_names.get(c.source, c.source)} {c.start}:{c.end} {code_names.get(c.code, c.code)} by {c.coder}"
        if c.source in unplaced_sources:
            rows.append(PlanRow(kind="coding", what=what, action="unplaceable",
                                reason=f"its source {src_names.get(c.source)!r}: {unplaced_sources[c.source]}"))
            continue
        if c.source not in source_ids:
            rows.append(PlanRow(kind="coding", what=what, action="unplaceable", reason="its source is not in the file"))
            continue
        if c.code not in code_ids:
            rows.append(PlanRow(kind="coding", what=what, action="unplaceable", reason="its code is not in the file"))
            continue
        sid = source_ids[c.source]
        if not (0 <= c.start < c.end <= len(texts[sid])):
            rows.append(PlanRow(kind="coding", what=what, action="unplaceable", reason="its span is outside the text"))
            continue
        coder = coders.get(c.coder, c.coder)
        cid = code_ids[c.code]
        to = f"{names[sid]} {c.start}:{c.end} {here_code_names.get(cid, code_names.get(c.code))} by {coder}"
        key = (sid, cid, coder, c.start, c.end)
        if (c.guid and norm_guid(c.guid) in existing_guids) or (cid is not None and key in existing) or key in seen:
            rows.append(PlanRow(kind="coding", what=what, action="present", to=to, reason="already here"))
            continue
        seen.add(key)
        to_add.append((c, sid, coder))
        rows.append(PlanRow(kind="coding", what=what, action="add", to=to))
    # memos
    memos_here = {(m.target_type, m.target_id, m.text) for m in store.list_memos()}
    memos: list[tuple[InMemo, str, int | None, str]] = []
    for m in inp.memos:
        what = f"memo by {m.author}: {' '.join(m.text.split())[:60]}"
        kind, tid = m.target_type, None
        if kind == "source":
            if m.target not in source_ids:
                rows.append(PlanRow(kind="memo", what=what, action="unplaceable",
                                    reason="it is on a source that is not in this project"))
                continue
            tid = source_ids[m.target]
        elif kind == "code":
            if m.target not in code_ids:
                rows.append(PlanRow(kind="memo", what=what, action="unplaceable", reason="its code is not in the file"))
                continue
            tid = code_ids[m.target]  # None: a new code, resolved when it is added
        if not m.text.strip():
            rows.append(PlanRow(kind="memo", what=what, action="unplaceable", reason="it is empty"))
            continue
        if tid is not None and (kind, tid, m.text) in memos_here or kind == "project" and (kind, None, m.text) in memos_here:
            rows.append(PlanRow(kind="memo", what=what, action="present", reason="already here"))
            continue
        author = coders.get(m.author, m.author)
        memos.append((m, kind, tid, author))
        rows.append(PlanRow(kind="memo", what=what, action="add", to=f"{kind} memo by {author}"))
    return _Resolved(plan, source_ids, code_ids, new_codes, coders, to_add, memos)


def plan_merge(project: Project, inp: MergeInput, coder_map: Mapping[str, str] | None = None,
               code_map: Mapping[str, str] | None = None) -> MergePlan:
    """What a merge would do, row by row; writes nothing."""
    return _resolve(project, inp, dict(coder_map or {}), dict(code_map or {})).plan


class MergeReport(BaseModel):
    merge_id: str
    origin: str
    added: dict[str, int] = Field(default_factory=dict)
    unplaceable: list[PlanRow] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


def apply_merge(project: Project, inp: MergeInput, coder_map: Mapping[str, str] | None = None,
                code_map: Mapping[str, str] | None = None, *, actor: str | None = None) -> MergeReport:
    """Write the plan (recomputed inside the write lock, so it is current) in one transaction,
    audited (lead only). Refused when this merge was applied already."""
    store, actor = project.store, actor or project.analyst
    require_role(project, actor, "lead", "merge another analyst's work")
    coder_map, code_map = dict(coder_map or {}), dict(code_map or {})
    with store.transaction():
        r = _resolve(project, inp, coder_map, code_map)
        plan = r.plan
        if not store.add_merge(plan.merge_id, inp.origin, actor, plan.counts()):
            prior = store.merge_row(plan.merge_id) or {}
            raise ThematicError(f"this merge ({Path(inp.origin).name}, id {plan.merge_id[:12]}) was applied "
                                f"already, by {prior.get('started_by', '?')} at {prior.get('started_at', '?')}")
        code_ids = dict(r.code_ids)
        by_key = {c.key: c for c in inp.codes}
        used_guids = {norm_guid(c["guid"]) for c in store.code_guid_rows() if c["guid"]}
        made: dict[str, int] = {}  # a file with two codes of one name gets one code here
        for c in _parents_first(r.new_codes, by_key):
            if name_key(c.name) in made:
                code_ids[c.key] = made[name_key(c.name)]
                continue
            parent = code_ids.get(c.parent) if c.parent else None
            new = store.add_code(Code(name=c.name.strip(), parent_id=parent, definition=c.definition))
            if c.guid and norm_guid(c.guid) not in used_guids:
                store.set_entity_guid("codes", new.id, c.guid)
                used_guids.add(norm_guid(c.guid))
            code_ids[c.key] = made[name_key(c.name)] = new.id
            store.audit(actor, "code.add", "code", new.id, name=new.name, origin=f"merge {plan.merge_id[:12]}")
        known = {c["name"] for c in store.list_coders()}
        for name in sorted(set(r.coders.values())):
            if name not in known:
                store.ensure_coder(name, "import")
        texts = store.texts_of({sid for _, sid, _ in r.codings})
        written: list[int] = []
        for c, sid, coder in r.codings:
            row = store.add_coding(Coding(source_id=sid, code_id=code_ids[c.code], start=c.start, end=c.end,  # type: ignore[arg-type]
                                          text=texts[sid][c.start:c.end], coder=coder, origin="import"))
            if c.guid and len(c.guid) >= 32 and ":" not in c.guid:
                store.set_coding_guid(row.id, c.guid)
            written.append(row.id)
        memo_ids = []
        for m, kind, tid, author in r.memos:
            if kind == "code" and tid is None:
                tid = code_ids[m.target]
            memo = store.add_memo(Memo(target_type=kind, target_id=tid, text=m.text, author=author))  # type: ignore[arg-type]
            memo_ids.append(memo.id)
        added = {"codes": len(r.new_codes), "codings": len(written), "memos": len(memo_ids)}
        store.audit(actor, "merge.apply", "merge", None, merge_id=plan.merge_id, origin=inp.origin,
                    coder_map=coder_map, code_map=code_map, added=added, coding_ids=written, memo_ids=memo_ids,
                    unplaceable=[u.model_dump() for u in plan.unplaceable], counts=plan.counts())
    return MergeReport(merge_id=plan.merge_id, origin=inp.origin, added=added, unplaceable=plan.unplaceable,
                       warnings=plan.warnings)


def _parents_first(codes: list[InCode], by_key: Mapping[str, InCode]) -> list[InCode]:
    out: list[InCode] = []
    todo = {c.key: c for c in codes}

    def visit(c: InCode, depth: int = 0) -> None:
        if c.key not in todo or depth > 100:
            return
        if c.parent and c.parent in todo:
            visit(todo[c.parent], depth + 1)
        if c.key in todo:
            out.append(todo.pop(c.key))

    for c in list(codes):
        visit(c)
    return out


def parse_maps(items: list[str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """`coder:old=new` and `code:old=new` (repeatable) -> (coder map, code map)."""
    coders: dict[str, str] = {}
    codes: dict[str, str] = {}
    for item in items or []:
        kind, _, rest = item.partition(":")
        old, eq, new = rest.partition("=")
        if kind not in ("coder", "code") or not eq or not old.strip() or not new.strip():
            raise ThematicError(f"--map {item!r}: write coder:OLD=NEW or code:OLD=NEW")
        (coders if kind == "coder" else codes)[old.strip()] = new.strip()
    return coders, codes
