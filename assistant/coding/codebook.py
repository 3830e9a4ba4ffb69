"""The codebook: validation of imported code specs, merge-by-name import, and the edits analysts make
as their understanding grows (rename, merge, split). Every change writes an audit entry, so the
codebook's history can be replayed; a merged code keeps its row (status="merged", merged_into=...)
so old decisions still point at something real."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.errors import CodebookError
from assistant.guids import is_guid, norm_guid
from assistant.models import Code, Source
from assistant.project import Project

CODE_FIELDS = ("definition", "include", "exclude", "examples", "colour", "scope")


class CodeSpec(BaseModel):
    """One code as written in a codebook file; `parent` is a name, `row` is where it came from
    (for error messages)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    parent: str | None = None
    definition: str = ""
    include: str = ""
    exclude: str = ""
    examples: list[str] = Field(default_factory=list)
    colour: str | None = None
    scope: dict[str, Any] | None = None
    guid: str | None = None
    row: str = ""


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def name_key(name: str) -> str:
    """How code names are compared everywhere (imports, decisions, LLM proposals): case-insensitive,
    runs of whitespace collapsed."""
    return " ".join(name.split()).casefold()


_key = name_key


def validate_specs(specs: list[CodeSpec], known_parents: set[str] | None = None) -> list[CodeSpec]:
    """Refuse a codebook with a missing name, a duplicate, an unknown parent or a cycle, naming the
    row, rather than importing half of it. Returns specs ordered parents-first."""
    known = {_key(n) for n in (known_parents or set())}
    by_key: dict[str, CodeSpec] = {}
    for spec in specs:
        if not spec.name or not spec.name.strip():
            raise CodebookError(f"{spec.row or 'a code'}: missing code name")
        if ">" in spec.name:
            raise CodebookError(f"{spec.row}: code name {spec.name!r} may not contain '>'")
        k = _key(spec.name)
        if k in by_key:
            raise CodebookError(
                f"{spec.row}: duplicate code name {spec.name!r} (first at {by_key[k].row or 'an earlier row'})"
            )
        by_key[k] = spec
    for spec in specs:
        if spec.parent and _key(spec.parent) not in by_key and _key(spec.parent) not in known:
            raise CodebookError(f"{spec.row}: code {spec.name!r} has unknown parent {spec.parent!r}")
    for spec in specs:  # cycle: walk up the parent chain
        seen = [spec.name]
        cur = spec
        while cur.parent and _key(cur.parent) in by_key:
            cur = by_key[_key(cur.parent)]
            if cur is spec or cur.name in seen:
                raise CodebookError(f"{spec.row}: cycle in parents: {' > '.join(seen + [cur.name])}")
            seen.append(cur.name)
    ordered: list[CodeSpec] = []
    done: set[str] = set()

    def visit(s: CodeSpec) -> None:
        if _key(s.name) in done:
            return
        if s.parent and _key(s.parent) in by_key:
            visit(by_key[_key(s.parent)])
        done.add(_key(s.name))
        ordered.append(s)

    for spec in specs:
        visit(spec)
    return ordered


def import_specs(project: Project, specs: list[CodeSpec], actor: str | None = None, origin: str = "") -> ImportReport:
    """Merge by name: an existing code (case-insensitive) gets the file's non-empty fields; a new
    one is added. Never duplicates, and all-or-nothing."""
    store, actor = project.store, actor or project.analyst
    existing = {_key(c.name): c for c in store.list_codes()}
    specs = validate_specs(specs, known_parents={c.name for c in existing.values()})
    _check_merged_cycles(specs, existing)
    report = ImportReport()
    used_guids = set(store.entity_guids("codes").values()) if any(s.guid for s in specs) else set()
    with store.transaction():
        for spec in specs:
            parent_id = existing[_key(spec.parent)].id if spec.parent else None
            fields: dict[str, Any] = {
                "definition": spec.definition, "include": spec.include, "exclude": spec.exclude,
                "examples": spec.examples, "colour": spec.colour, "scope": spec.scope,
            }
            fields = {k: v for k, v in fields.items() if v not in (None, "", [])}
            old = existing.get(_key(spec.name))
            if old is None:
                code = store.add_code(Code(name=spec.name.strip(), parent_id=parent_id, **fields))
                if _new_guid_ok(spec.guid, used_guids):  # a .qdc's GUID is kept, so re-exports match
                    store.set_entity_guid("codes", code.id, spec.guid)
                    used_guids.add(spec.guid)  # type: ignore[arg-type]
                store.audit(actor, "code.add", "code", code.id, name=code.name, origin=origin)
                existing[_key(code.name)] = code
                report.added.append(code.name)
                continue
            if spec.parent is not None:
                fields["parent_id"] = parent_id
            changed = {k: v for k, v in fields.items() if getattr(old, k) != v}
            if not changed:
                report.unchanged.append(old.name)
                continue
            new = old.model_copy(update=changed)
            store.update_code(new)
            store.audit(actor, "code.update", "code", old.id, name=old.name, origin=origin,
                        before={k: getattr(old, k) for k in changed}, after=changed)
            existing[_key(old.name)] = new
            report.updated.append(old.name)
    return report


def _new_guid_ok(guid: str | None, used: set[str]) -> bool:
    return is_guid(guid) and norm_guid(guid) not in {norm_guid(g) for g in used}


def _check_merged_cycles(specs: list[CodeSpec], existing: dict[str, Code]) -> None:
    """The file's parents merged over the store's: importing A (parent B) over an existing B (parent
    A) would close a cycle that neither side has alone."""
    by_id = {c.id: c for c in existing.values()}
    parent: dict[str, str | None] = {
        k: (_key(by_id[c.parent_id].name) if c.parent_id in by_id else None) for k, c in existing.items()
    }
    names = {k: c.name for k, c in existing.items()}
    for spec in specs:
        names[_key(spec.name)] = spec.name
        if spec.parent is not None or _key(spec.name) not in parent:
            parent[_key(spec.name)] = _key(spec.parent) if spec.parent else None
    for spec in specs:
        start = _key(spec.name)
        chain, cur = [start], parent.get(start)
        while cur is not None:
            chain.append(cur)
            if cur == start:
                raise CodebookError(f"{spec.row or spec.name}: cycle in parents with the existing codebook: "
                                    f"{' > '.join(names[k] for k in chain)}")
            if cur in chain[:-1]:
                break  # a cycle not through this spec: reported when its own row is checked
            cur = parent.get(cur)


def specs_from_project(project: Project) -> list[CodeSpec]:
    codes = project.store.list_codes()
    names = {c.id: c.name for c in codes}
    return [
        CodeSpec(name=c.name, parent=names.get(c.parent_id) if c.parent_id else None, definition=c.definition,
                 include=c.include, exclude=c.exclude, examples=c.examples, colour=c.colour, scope=c.scope)
        for c in codes
    ]


# -- edits ----------------------------------------------------------------------------------------
def add_code(project: Project, name: str, parent: str | int | None = None, actor: str | None = None,
             **fields: Any) -> Code:
    store = project.store
    if any(_key(c.name) == _key(name) for c in store.list_codes()):
        raise CodebookError(f"a code named {name!r} already exists")
    parent_id = store.get_code(parent).id if parent is not None else None
    code = store.add_code(Code(name=name.strip(), parent_id=parent_id, **fields))
    store.audit(actor or project.analyst, "code.add", "code", code.id, name=code.name)
    return code


def update_code(project: Project, ref: str | int, actor: str | None = None, **fields: Any) -> Code:
    store = project.store
    old = store.get_code(ref)
    unknown = set(fields) - set(CODE_FIELDS) - {"parent_id"}
    if unknown:
        raise CodebookError(f"cannot update code field(s) {sorted(unknown)}")
    new = old.model_copy(update=fields)
    if "parent_id" in fields:
        _check_no_cycle(project, old.id, fields["parent_id"])  # type: ignore[arg-type]
    with store.transaction():
        store.update_code(new)
        store.audit(actor or project.analyst, "code.update", "code", old.id,
                    before={k: getattr(old, k) for k in fields}, after=fields)
    return new


def _check_no_cycle(project: Project, code_id: int, parent_id: int | None) -> None:
    parents = {c.id: c.parent_id for c in project.store.list_codes(include_inactive=True)}
    cur = parent_id
    while cur is not None:
        if cur == code_id:
            raise CodebookError("that parent would make a cycle in the codebook")
        cur = parents.get(cur)


def rename_code(project: Project, ref: str | int, new_name: str, actor: str | None = None) -> Code:
    store = project.store
    old = store.get_code(ref)
    clash = [c for c in store.list_codes() if _key(c.name) == _key(new_name) and c.id != old.id]
    if clash:
        raise CodebookError(f"a code named {new_name!r} already exists (id {clash[0].id})")
    new = old.model_copy(update={"name": new_name.strip()})
    with store.transaction():
        store.update_code(new)
        store.audit(actor or project.analyst, "code.rename", "code", old.id, before=old.name, after=new.name)
    return new


def merge_codes(project: Project, source: str | int, target: str | int, actor: str | None = None) -> Code:
    """`source` is folded into `target`: its codings and pending suggestions move, its children are
    re-parented, and it stays in the table as status="merged" for the history."""
    store = project.store
    src, dst = store.get_code(source), store.get_code(target)
    if src.id == dst.id:
        raise CodebookError("cannot merge a code into itself")
    with store.transaction():
        moved = store.recode(src.id, dst.id)  # type: ignore[arg-type]
        for child in store.list_codes():
            if child.parent_id == src.id and child.id != dst.id:
                store.update_code(child.model_copy(update={"parent_id": dst.id}))
        store.update_code(src.model_copy(update={"status": "merged", "merged_into": dst.id}))
        store.audit(actor or project.analyst, "code.merge", "code", src.id, name=src.name,
                    merged_into=dst.id, into_name=dst.name, codings_moved=moved)
    return dst


def split_code(project: Project, ref: str | int, new_names: list[str], actor: str | None = None) -> list[Code]:
    """Create the new codes as children of the split code; its codings stay put until the analyst
    re-codes them (a split is a judgement, not something to automate)."""
    store = project.store
    old = store.get_code(ref)
    with store.transaction():
        made = [add_code(project, n, parent=old.id, actor=actor) for n in new_names]
        store.audit(actor or project.analyst, "code.split", "code", old.id, name=old.name,
                    into=[c.name for c in made], into_ids=[c.id for c in made])
    return made


def delete_code(project: Project, ref: str | int, actor: str | None = None) -> Code:
    store = project.store
    old = store.get_code(ref)
    new = old.model_copy(update={"status": "deleted"})
    with store.transaction():
        store.update_code(new)
        store.audit(actor or project.analyst, "code.delete", "code", old.id, name=old.name)
    return new


# -- reading the codebook ------------------------------------------------------------------------
def code_paths(codes: list[Code]) -> dict[int, str]:
    """"Parent > Child" for each code: how analysts and exports name hierarchical codes."""
    by_id = {c.id: c for c in codes}
    out: dict[int, str] = {}
    for c in codes:
        parts, cur, guard = [c.name], c, 0
        while cur.parent_id in by_id and guard < 50:
            cur = by_id[cur.parent_id]
            parts.append(cur.name)
            guard += 1
        out[c.id] = " > ".join(reversed(parts))  # type: ignore[index]
    return out


def code_applies(code: Code, source: Source, question: str | None = None) -> bool:
    """A scoped code only applies to the sources (or question) it was scoped to."""
    scope = code.scope or {}
    ids = scope.get("source_ids")
    if ids and source.id not in ids:
        return False
    for key, want in (scope.get("filters") or {}).items():
        have = source.kind if key == "kind" else source.name if key == "source" else source.attributes.get(key)
        wants = want if isinstance(want, list) else [want]
        if have not in wants:
            return False
    if scope.get("question") and question is not None and scope["question"] != question:
        return False
    return True


def resolve_codes(project: Project, refs: list[str] | None) -> list[Code]:
    codes = project.store.list_codes()
    if not refs:
        return codes
    out = []
    for ref in refs:
        out.append(project.store.get_code(ref))
    return out
