"""The codebook: validation of imported code specs, merge-by-name import, and the edits analysts make
as their understanding grows (rename, merge, split). Every change writes an audit entry, so the
codebook's history can be replayed; a merged code keeps its row (status="merged", merged_into=...)
so old decisions still point at something real."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.corpus.view import matches_filters, source_meta
from assistant.errors import CodebookError
from assistant.guids import is_guid, norm_guid
from assistant.models import Code, Source, StoredCode
from assistant.people.roles import require_role
from assistant.project import Project

CODE_FIELDS = ("definition", "include", "exclude", "examples", "colour", "scope")
_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def hex_colour(value: str | None) -> str | None:
    """A code colour as "#RRGGBB" (upper case; "#rgb" is widened), None when empty. Anything else
    raises ValueError: a colour ends up in the style attributes of the workspace and of HTML
    exports, so a value like `#fff;background:url(http://...)` must never get into the codebook."""
    text = (value or "").strip()
    if not text:
        return None
    if not _HEX_COLOUR.fullmatch(text):
        raise ValueError(f"colour {value!r} is not a #RRGGBB colour")
    if len(text) == 4:
        text = "#" + "".join(ch * 2 for ch in text[1:])
    return text.upper()


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

    @field_validator("colour")
    @classmethod
    def _valid_colour(cls, value: str | None) -> str | None:
        return hex_colour(value)


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the file's reader changed, one line each


def name_key(name: str) -> str:
    """How code names are compared everywhere (imports, decisions, LLM proposals): case-insensitive,
    runs of whitespace collapsed."""
    return " ".join(name.split()).casefold()


_key = name_key


# -- the code hierarchy ---------------------------------------------------------------------------
K = TypeVar("K", bound=Hashable)


class Hierarchy(Generic[K]):
    """The one walk of the code tree, over parent links keyed by code id (the store) or by name
    key (a codebook file being imported): ancestors, paths, depth, descendants, parents-first
    order. Every place that needs the tree uses it, so a damaged tree is handled the same way
    everywhere: a parent that is not in the map makes a root, a parent cycle is cut where the walk
    first meets it, and no walk can loop or drop a code. Siblings keep the order they were given in."""

    def __init__(self, parents: Mapping[K, K | None]):
        self.parents: dict[K, K | None] = dict(parents)
        self.children: dict[K | None, list[K]] = {}
        for key, parent in self.parents.items():
            self.children.setdefault(parent if parent in self.parents else None, []).append(key)

    def ancestors(self, key: K) -> list[K]:
        """Parent, grandparent, ... up to a root, nearest first; stops before a repeat (a cycle)."""
        out: list[K] = []
        seen = {key}
        cur = self.parents.get(key)
        while cur is not None and cur in self.parents and cur not in seen:
            out.append(cur)
            seen.add(cur)
            cur = self.parents[cur]
        return out

    def cycle(self, key: K) -> list[K] | None:
        """[key, parent, ..., key] when walking up from `key` comes back to it, else None."""
        chain = [key, *self.ancestors(key)]
        return [*chain, key] if self.parents.get(chain[-1]) == key else None

    def depth(self, key: K) -> int:
        return len(self.ancestors(key))

    def path(self, key: K, name: Mapping[K, str]) -> str:
        """"Root > ... > Code": how analysts and exports name hierarchical codes."""
        return " > ".join(name[k] for k in reversed([key, *self.ancestors(key)]))

    def descendants(self, key: K) -> list[K]:
        """Children, grandchildren, ... (each once, parents before their children)."""
        return [k for k, _, _ in self._walk_from(key, set())][1:]

    def walk(self) -> list[tuple[K, K | None, int]]:
        """Every key once, parents first (depth-first, siblings in order) as (key, parent in the
        walk, depth). A code on a parent cycle is reached from the top of its chain, which is
        walked as a root."""
        done: set[K] = set()
        out = [step for root in self.children.get(None, []) for step in self._walk_from(root, done)]
        for key in self.parents:
            if key not in done:
                out += self._walk_from([key, *self.ancestors(key)][-1], done)
        return out

    def parents_first(self, keys: Iterable[K] | None = None) -> list[K]:
        order = [k for k, _, _ in self.walk()]
        if keys is None:
            return order
        wanted = set(keys)
        return [k for k in order if k in wanted]

    def _walk_from(self, root: K, done: set[K]) -> list[tuple[K, K | None, int]]:
        out: list[tuple[K, K | None, int]] = []
        stack: list[tuple[K, K | None, int]] = [(root, None, 0)]
        while stack:
            key, parent, depth = stack.pop()
            if key in done:
                continue
            done.add(key)
            out.append((key, parent, depth))
            stack.extend((c, key, depth + 1) for c in reversed(self.children.get(key, [])) if c not in done)
        return out


def code_tree(codes: Iterable[Code]) -> Hierarchy[int]:
    """The hierarchy of stored codes, by id."""
    return Hierarchy({int(c.id): c.parent_id for c in codes if c.id is not None})


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
    tree = Hierarchy({k: (_key(s.parent) if s.parent else None) for k, s in by_key.items()})
    for k, spec in by_key.items():
        loop = tree.cycle(k)
        if loop:
            raise CodebookError(f"{spec.row}: cycle in parents: {' > '.join(by_key[n].name for n in loop)}")
    return [by_key[k] for k in tree.parents_first()]


def import_specs(project: Project, specs: list[CodeSpec], actor: str | None = None, origin: str = "") -> ImportReport:
    """Merge by name: an existing code (case-insensitive) gets the file's non-empty fields; a new
    one is added. Never duplicates, and all-or-nothing."""
    require_role(project, actor or project.analyst, "lead", "change the codebook")
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


def _check_merged_cycles(specs: list[CodeSpec], existing: Mapping[str, Code]) -> None:
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
    tree = Hierarchy(parent)
    for spec in specs:
        loop = tree.cycle(_key(spec.name))
        if loop:
            raise CodebookError(f"{spec.row or spec.name}: cycle in parents with the existing codebook: "
                                f"{' > '.join(names[k] for k in loop)}")


def specs_from_project(project: Project) -> list[CodeSpec]:
    codes = project.store.list_codes()
    names = {c.id: c.name for c in codes}
    return [
        CodeSpec(name=c.name, parent=names.get(c.parent_id) if c.parent_id else None, definition=c.definition,
                 include=c.include, exclude=c.exclude, examples=c.examples, colour=_stored_colour(c.colour),
                 scope=c.scope)
        for c in codes
    ]


def _stored_colour(value: str | None) -> str | None:
    """A colour already in the store that is not #RRGGBB (from before colours were checked) is
    left out of an export rather than failing it."""
    try:
        return hex_colour(value)
    except ValueError:
        return None


# -- edits ----------------------------------------------------------------------------------------
def add_code(project: Project, name: str, parent: str | int | None = None, actor: str | None = None,
             **fields: Any) -> StoredCode:
    require_role(project, actor or project.analyst, "lead", "change the codebook")
    store = project.store
    if any(_key(c.name) == _key(name) for c in store.list_codes()):
        raise CodebookError(f"a code named {name!r} already exists")
    parent_id = store.get_code(parent).id if parent is not None else None
    code = store.add_code(Code(name=name.strip(), parent_id=parent_id, **_checked_colour(name, fields)))
    store.audit(actor or project.analyst, "code.add", "code", code.id, name=code.name)
    return code


def _checked_colour(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The edit paths check a colour as imports do (`hex_colour`); no colour keeps the default."""
    if "colour" not in fields:
        return fields
    try:
        colour = hex_colour(fields["colour"])
    except ValueError as exc:
        raise CodebookError(f"code {name!r}: {exc}") from None
    rest = {k: v for k, v in fields.items() if k != "colour"}
    return {**rest, "colour": colour} if colour else rest


def update_code(project: Project, ref: str | int, actor: str | None = None, **fields: Any) -> StoredCode:
    require_role(project, actor or project.analyst, "lead", "change the codebook")
    store = project.store
    old = store.get_code(ref)
    unknown = set(fields) - set(CODE_FIELDS) - {"parent_id"}
    if unknown:
        raise CodebookError(f"cannot update code field(s) {sorted(unknown)}")
    fields = _checked_colour(old.name, fields)
    new = old.model_copy(update=fields)
    if "parent_id" in fields:
        _check_no_cycle(project, old.id, fields["parent_id"])
    with store.transaction():
        store.update_code(new)
        store.audit(actor or project.analyst, "code.update", "code", old.id,
                    before={k: getattr(old, k) for k in fields}, after=fields)
    return new


def _check_no_cycle(project: Project, code_id: int, parent_id: int | None) -> None:
    parents = {c.id: c.parent_id for c in project.store.list_codes(include_inactive=True)}
    parents[code_id] = parent_id
    if Hierarchy(parents).cycle(code_id):
        raise CodebookError("that parent would make a cycle in the codebook")


def rename_code(project: Project, ref: str | int, new_name: str, actor: str | None = None) -> StoredCode:
    require_role(project, actor or project.analyst, "lead", "change the codebook")
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


def merge_codes(project: Project, source: str | int, target: str | int, actor: str | None = None) -> StoredCode:
    """`source` is folded into `target`: its codings and pending suggestions move, its children are
    re-parented, and it stays in the table as status="merged" for the history."""
    require_role(project, actor or project.analyst, "lead", "change the codebook")
    store = project.store
    src, dst = store.get_code(source), store.get_code(target)
    if src.id == dst.id:
        raise CodebookError("cannot merge a code into itself")
    with store.transaction():
        moved = store.recode(src.id, dst.id)
        for child in store.list_codes():
            if child.parent_id == src.id and child.id != dst.id:
                store.update_code(child.model_copy(update={"parent_id": dst.id}))
        store.update_code(src.model_copy(update={"status": "merged", "merged_into": dst.id}))
        store.audit(actor or project.analyst, "code.merge", "code", src.id, name=src.name,
                    merged_into=dst.id, into_name=dst.name, codings_moved=moved)
    return dst


def split_code(project: Project, ref: str | int, new_names: list[str], actor: str | None = None) -> list[StoredCode]:
    """Create the new codes as children of the split code; its codings stay put until the analyst
    re-codes them (a split is a judgement, not something to automate)."""
    require_role(project, actor or project.analyst, "lead", "change the codebook")
    store = project.store
    old = store.get_code(ref)
    with store.transaction():
        made = [add_code(project, n, parent=old.id, actor=actor) for n in new_names]
        store.audit(actor or project.analyst, "code.split", "code", old.id, name=old.name,
                    into=[c.name for c in made], into_ids=[c.id for c in made])
    return made


# -- reading the codebook ------------------------------------------------------------------------
def code_paths(codes: Sequence[Code]) -> dict[int, str]:
    """"Parent > Child" for each code: how analysts and exports name hierarchical codes."""
    tree = code_tree(codes)
    names = {int(c.id): c.name for c in codes if c.id is not None}
    return {k: tree.path(k, names) for k in tree.parents}


def code_applies(code: Code, source: Source, question: str | None = None) -> bool:
    """A scoped code only applies to the sources (or question) it was scoped to."""
    scope = code.scope or {}
    ids = scope.get("source_ids")
    if ids and source.id not in ids:
        return False
    if not matches_filters(source_meta(source), scope.get("filters")):  # the same semantics as search filters
        return False
    return not (scope.get("question") and question is not None
                and _norm_question(scope["question"]) != _norm_question(question))


def _norm_question(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def resolve_codes(project: Project, refs: list[str] | None) -> list[StoredCode]:
    codes = project.store.list_codes()
    if not refs:
        return codes
    out = []
    for ref in refs:
        out.append(project.store.get_code(ref))
    return out
