"""Small pieces the analysis pages share: attribute filters (the same on the code tree, the text
search and the matrix, with the search filters' semantics), a "memos" expander any page can put
beside the thing a memo is about, and a list of coded segments that each open in their source.

Every write goes through the library (`assistant.coding.memos`), which writes the audit row; all
text from the data goes through `app_pages.render`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from app_pages import _common as ui
from app_pages import render
from assistant.coding import memos as mm
from assistant.models import Segment
from assistant.project import Project

# the source attributes offered as filters, in this order, when the project has them
FILTER_KEYS = ("kind", "sector", "organisation", "role", "participant")
MAX_FILTER_VALUES = 200  # a free-text attribute (a date, a long role) is no use as a picker


def attribute_values(project: Project) -> dict[str, list[str]]:
    """Attribute -> its values across the sources, for the filter pickers (kind first)."""
    sources = project.store.list_sources()
    out: dict[str, list[str]] = {"kind": sorted({s.kind for s in sources if s.kind})}
    keys = sorted({k for s in sources for k in s.attributes}, key=lambda k: (k not in FILTER_KEYS,
                                                                             FILTER_KEYS.index(k) if k in FILTER_KEYS else 0, k))
    for key in keys:
        vals = sorted({str(s.attributes[key]).strip() for s in sources if str(s.attributes.get(key) or "").strip()},
                      key=str.casefold)
        if 1 <= len(vals) <= MAX_FILTER_VALUES:
            out[key] = vals
    return out


def attribute_filters(project: Project, key: str, keys: Sequence[str] | None = None, columns: int = 4) -> dict[str, Any]:
    """Multiselects for the common attributes (any value of each picked attribute matches; every
    attribute picked must match). Returns the filters dict the library takes ({} for none)."""
    values = attribute_values(project)
    wanted = [k for k in (keys or [k for k in FILTER_KEYS if k in values]) if k in values]
    if not wanted:
        return {}
    cols = st.columns(min(columns, len(wanted)))
    chosen: dict[str, Any] = {}
    for i, attr in enumerate(wanted):
        picked = cols[i % len(cols)].multiselect(render.label(attr.capitalize()), values[attr], key=f"{key}_f_{attr}",
                                                 placeholder="any", format_func=render.name)  # a participant by pseudonym
        if picked:
            chosen[attr] = list(picked)
    return chosen


def filters_caption(filters: dict[str, Any]) -> str:
    if not filters:
        return "all sources"
    return "; ".join(f"{k} = {' or '.join(map(str, v if isinstance(v, list) else [v]))}" for k, v in filters.items())


# -- memos where they belong -------------------------------------------------------------------------
def memos_expander(project: Project, target_type: str, target_id: int | None, what: str, *, key: str,
                   expanded: bool = False) -> None:
    """The memos written on or linked to one target (a code, a source, a theme, a coding or the
    project), with a box to write a new one there. `what` names the target for the reader."""
    views = ui.run(lambda: mm.list_memos(project, target_type, target_id), "Reading memos")
    views = views or []
    with st.expander(f":material/sticky_note_2: Memos ({len(views)})" if views else ":material/sticky_note_2: Memos",
                     expanded=expanded):
        for v in views:
            memo_card(v, show_targets=len(v.targets) > 1)
        if not views:
            render.caption(f"No memos on {what} yet.")
        with st.form(f"memo_new_{key}", clear_on_submit=True, border=False):
            text = st.text_area(render.label(f"New memo on {what}"), key=f"memo_text_{key}", height=90,
                                placeholder="What you notice, what to check, how it relates to other codes…")
            if st.form_submit_button("Save memo", icon=":material/save:"):
                made = ui.run(lambda: mm.add_memo(project, text, target_type, target_id), "Saving the memo")
                if made is not None:
                    ui.flash(f"Memo saved on {what}")
                    st.rerun()
        ui.page_link("memos", "All memos", {"on": f"{target_type}:{target_id}" if target_id is not None else target_type},
                     ":material/sticky_note_2:")


def memo_card(view: Any, show_targets: bool = True) -> None:
    """One memo: its text as written, who wrote it and when, and what it is about."""
    m = view.memo
    with st.container(border=True):
        render.text(m.text)
        when = (m.updated_at or m.created_at)[:16].replace("T", " ")
        edited = " (edited)" if m.updated_at else ""
        about = " · on " + "; ".join(t.label for t in view.targets) if show_targets else ""
        render.caption(f"Memo {m.id} · {m.author} · {when}{edited}{about}")


# -- coded segments ---------------------------------------------------------------------------------
def segment_cards(segments: Sequence[Segment], key: str, limit: int = 40, show_code: bool = False) -> None:
    """Each segment as its verbatim words with where they come from and a link that opens the
    source at those words."""
    for i, s in enumerate(segments[:limit]):
        with st.container(border=True):
            if show_code:
                st.html(render.chip_html(s.code_path, "#888888"))
            render.quote(s.text if len(s.text) <= 900 else s.text[:900] + "…")
            who = f" · {s.speaker}" if s.speaker else ""
            changed = " · the source changed under this coding" if s.changed else ""
            with st.container(horizontal=True, gap="small", vertical_alignment="center"):
                render.caption(f"{s.source} · line {s.line}{who} · coded by {s.coder}{changed}")
                ui.page_link("corpus", "Open in source", {"source": s.source_id, "start": s.start, "end": s.end},
                             ":material/open_in_new:")
    if len(segments) > limit:
        st.caption(f"{len(segments) - limit} more segments: download the CSV for all of them, or narrow the filters.")


def segment_table(segments: Sequence[Segment]) -> Any:
    """The segments as a readable table (the CSV download has every column)."""
    import pandas as pd

    return pd.DataFrame([{"source": render.name(s.source), "line": s.line, "speaker": render.name(s.speaker),  # pseudonymised display
                          "code": s.code_path,
                          "words": s.text, "coder": s.coder} for s in segments])


# -- heat maps ---------------------------------------------------------------------------------------
MAIN_WIDTH_PX = 900  # the main column at 1400 px with the sidebar open, and an A4 page in print


def heat_layout(columns: Sequence[object], rows: Sequence[object], width: int = MAIN_WIDTH_PX) -> tuple[int, int, int]:
    """(column step, column-label angle, row-label limit) so a heat map of these rows and columns
    fits `width` with every label readable: row labels get what they need up to 46% of the width,
    the columns share the rest (44-110 px each), and column labels are turned only when they would
    not fit flat."""
    row_px = min(int(width * 0.46), 14 + int(6.4 * max((len(str(r)) for r in rows), default=8)))
    step = max(44, min(110, (width - row_px - 70) // max(1, len(columns))))
    longest = max((len(str(c)) for c in columns), default=1)
    angle = 0 if longest * 6.8 <= step - 6 else -40
    return step, angle, row_px

