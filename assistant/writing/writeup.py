"""The write-up basket exported for a report: Markdown (for any editor) and DOCX (for Word, via
python-docx, the maintained library for writing .docx without Word).

Each item: the quote as a block quote, its attribution, the source name and line, and the
analyst's note. Quotes that came from a code or a theme (their `_group` attribute, set by
`find_quotes` and theme drafts) are grouped under that heading in basket order; others go under
"Quotes". Every quote is re-checked against its source before export, so a source edited after
the quote was basketed cannot slip an outdated quote into a report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assistant.errors import ThematicError, VerificationError
from assistant.models import BasketItem, MemoView, Quote, StoredBasketItem
from assistant.plain import md_escape, md_quote
from assistant.project import Project
from assistant.verbatim import check_quote
from assistant.writing import basket
from index.storage import write_bytes_atomic, write_text_atomic

DEFAULT_GROUP = "Quotes"
MEMOS_HEADING = "Memos"


def grouped(items: Sequence[BasketItem]) -> list[tuple[str, list[BasketItem]]]:
    groups: dict[str, list[BasketItem]] = {}
    for item in items:
        groups.setdefault(item.quote.attributes.get("_group") or DEFAULT_GROUP, []).append(item)
    return list(groups.items())


def checked_items(project: Project, items: Sequence[BasketItem] | None = None) -> list[BasketItem]:
    items = list(project.store.list_basket() if items is None else items)
    texts = project.store.source_texts()
    for item in items:
        if item.quote.source_id not in texts:
            raise VerificationError(f"basket item {item.id}: its source {item.quote.source_name!r} was deleted")
        check_quote(texts[item.quote.source_id], item.quote)
    return items


def location(q: Quote) -> str:
    return f"{q.source_name}, line {q.line}" if q.line else q.source_name


def to_markdown(items: Sequence[BasketItem], title: str = "Quotes for the write-up",
                memos: Sequence[MemoView] = ()) -> str:
    out = [f"# {title}", ""]
    multi = any(i.quote.attributes.get("_group") for i in items)
    for heading, group in grouped(items):
        if multi:
            out += [f"## {md_escape(heading)}", ""]
        for item in group:
            q = item.quote
            out += md_quote(q.text)  # data: escaped, so the file renders as the source's characters
            out += ["", f"— {md_escape(q.attribution or q.source_name)} ({md_escape(location(q))})", ""]
            if item.note:
                out += [f"*Note:* {md_escape(item.note)}", ""]
    if memos:
        out += [f"## {MEMOS_HEADING}", ""]
        for v in memos:
            out += [f"### {md_escape(memo_heading(v))}", "", *md_quote(v.memo.text), "",
                    f"— {md_escape(v.memo.author)}, {md_escape((v.memo.updated_at or v.memo.created_at)[:10])}", ""]
    return "\n".join(out).rstrip() + "\n"


def memo_heading(view: MemoView) -> str:
    return f"Memo {view.memo.id} on " + "; ".join(t.label for t in view.targets)


def to_docx(items: Sequence[BasketItem], path: Path, title: str = "Quotes for the write-up",
            memos: Sequence[MemoView] = ()) -> Path:
    """Write the DOCX atomically (temp file beside `path`, then os.replace)."""
    data = docx_bytes(items, title, memos)
    write_bytes_atomic(Path(path), data)
    return Path(path)


def docx_bytes(items: Sequence[BasketItem], title: str = "Quotes for the write-up",
               memos: Sequence[MemoView] = ()) -> bytes:
    """The write-up as DOCX bytes, built in memory (for a download or an atomic write)."""
    import io

    from docx import Document
    from docx.shared import Pt

    doc = Document()
    doc.add_heading(title, level=1)
    multi = any(i.quote.attributes.get("_group") for i in items)
    for heading, group in grouped(items):
        if multi:
            doc.add_heading(heading, level=2)
        for item in group:
            q = item.quote
            para = doc.add_paragraph(style="Quote")
            para.add_run(q.text)
            attr = doc.add_paragraph()
            run = attr.add_run(f"— {q.attribution or q.source_name} ({location(q)})")
            run.font.size = Pt(9)
            if item.note:
                note = doc.add_paragraph()
                note.add_run("Note: ").bold = True
                note.add_run(item.note)
    if memos:
        doc.add_heading(MEMOS_HEADING, level=2)
        for v in memos:
            doc.add_heading(memo_heading(v), level=3)
            doc.add_paragraph(v.memo.text)
            by = doc.add_paragraph().add_run(f"— {v.memo.author}, {(v.memo.updated_at or v.memo.created_at)[:10]}")
            by.font.size = Pt(9)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def export_writeup(project: Project, fmt: str = "md", out: str | Path | None = None,
                   include_memos: bool = True) -> Path:
    """Write the basket to `out` (default exports/writeup.<fmt>) and audit it. The analyst's
    memos follow the quotes (`include_memos`), each under what it is about: the reasoning behind
    the analysis travels with its evidence."""
    if fmt not in ("md", "docx"):
        raise ThematicError(f"unknown write-up format {fmt!r}; choose md or docx")
    items = checked_items(project)
    if not items:
        raise ThematicError("the write-up basket is empty (add quotes with `thematic quotes ... --add`)")
    path = Path(out) if out else project.exports_dir / f"writeup.{fmt}"
    memos = writeup_memos(project) if include_memos else []
    if fmt == "md":
        write_text_atomic(path, to_markdown(items, memos=memos))
    else:
        to_docx(items, path, memos=memos)
    project.store.audit(project.analyst, "export", "writeup", None, format=fmt, path=str(path), items=len(items),
                        memos=len(memos))
    return path


def writeup_memos(project: Project) -> list[MemoView]:
    """Every memo, oldest first, for the write-up's memo section."""
    from assistant.coding.memos import list_memos

    return list_memos(project)


def add_quotes(project: Project, quotes: Sequence[Quote], note: str = "") -> list[StoredBasketItem]:
    """Put quotes in the basket (re-checked first), audited as the analyst's choice: see
    `assistant.writing.basket.add`, the one write path for the basket."""
    return basket.add(project, quotes, note)
