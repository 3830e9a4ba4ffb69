"""Reading a REFI-QDA codebook (`.qdc`, urn:QDA-XML:codebook:1.0, or the CodeBook of a `.qdpx`)
into `CodeSpec`s. The one reader behind `thematic codebook import x.qdc` and `thematic import qdc
x.qdc` (`codebook_files.import_codebook` and `refi.import_qdc`), so both give the same codes, the
same renamed codes (`importer.code_names`, the rule the `.qdpx` project import uses too) and the
same refusals."""

from __future__ import annotations

import zipfile
from pathlib import Path

from assistant.coding.codebook import CodeSpec
from assistant.errors import CodebookError, ExchangeError
from assistant.exchange.refi.export import CODEBOOK_NS, rgb, split_description
from assistant.exchange.refi.importer import (
    _Archive,
    _kids,
    _ln,
    code_names,
    parse_codes,
    parse_xml,
)
from index.archive import MB, ZipLimits


def read_qdc(path: str | Path, limits: ZipLimits | None = None) -> tuple[list[CodeSpec], list[str]]:
    """A `.qdc` file, or a `.qdpx` archive's project.qde (read within the unpack limits), as specs
    and warning lines; a file that cannot be read raises CodebookError (one line naming it)."""
    path = Path(path)
    limits = limits or ZipLimits()
    try:
        if not path.is_file():
            raise ExchangeError(f"{path}: no such file")
        if zipfile.is_zipfile(path):
            with _Archive(path, limits) as archive:
                data = archive.qde()
        else:
            size = path.stat().st_size
            if size > limits.member_bytes:
                raise ExchangeError(f"{path}: file is {size / MB:.1f} MB, over the limit of "
                                    f"{limits.member_mb:g} MB (set ingest.max_member_mb)")
            data = path.read_bytes()
        return qdc_specs(data, path.name)
    except ExchangeError as exc:  # a codebook that cannot be loaded, whichever command read it
        raise CodebookError(str(exc)) from None


def qdc_specs(data: bytes, origin: str = "codebook.qdc") -> tuple[list[CodeSpec], list[str]]:
    """Codes of a `<CodeBook>` (or of every CodeBook in a `<Project>`), parents first, named by
    `code_names`; include/exclude/examples are read back from the Description
    (`export.split_description`). A colour that is not REFI-QDA's #RRGGBB is dropped with a
    warning: the codes are still worth having, and nothing else may reach a style attribute."""
    warnings: list[str] = []
    root = parse_xml(data, origin, warnings)
    books = [root] if _ln(root) == "CodeBook" else _kids(root, "CodeBook")
    codes_els = [cs for b in books for cs in _kids(b, "Codes")]
    if not codes_els:
        raise ExchangeError(f"{origin}: no <CodeBook><Codes> element (namespace {CODEBOOK_NS})")
    seen: set[str] = set()
    try:
        codes = [c for cs in codes_els for c in parse_codes(cs, warnings, seen)]
    except ExchangeError as exc:
        raise ExchangeError(f"{origin}: {exc}") from None
    names, renamed = code_names(codes)
    warnings += [f"{origin}: {w}" for w in renamed]
    specs = []
    for c in codes:
        name = names[c.guid]
        colour = rgb(c.colour)
        if c.colour and colour is None:
            warnings.append(f"{origin}: code {name!r}: colour {c.colour!r} is not a #RRGGBB colour; left out")
        specs.append(CodeSpec(name=name, parent=names.get(c.parent) if c.parent else None, colour=colour,
                              guid=c.guid, row=f"{origin} code {name!r}", **split_description(c.definition)))
    return specs, warnings
