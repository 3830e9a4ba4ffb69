"""The embedding model, loaded once per server in a background thread, with a visible line in the
sidebar until it is ready: the first page shows at once, and the first search or theme draft does
not sit on a silent spinner while half a minute of model loading happens behind it.

Two steps, so the load never competes with the first page: opening the project *registers* the
load (`start_model_warmup`, and the sidebar line shows from that first page on), and the workspace
*begins* it at the end of a script run (`begin_model_warmups`), once the first page has been
drawn. Importing torch holds the interpreter for seconds: started while the first page's script
ran (or on a fixed timer that a slow machine outruns), it delayed that page by as much. A search
asked for before the load begins loads the model itself, under the model's own lock."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import streamlit as st

from app_pages import render
from app_pages.serve import trace
from assistant.project import Project

# project folder -> {"started", "seconds", "error", "thread", "load"}: "load" is set while the load
# is registered and not begun, "thread" once it runs; "seconds" is set when it is over
_WARMUP: dict[str, dict[str, Any]] = {}
_BEGIN_LOCK = threading.Lock()
# Seconds between the end of the first page's script run and the start of the load: the browser
# is still drawing that page, and the server's event loop still sending it, which needs the
# interpreter that the torch import holds.
AFTER_FIRST_PAGE_S = 1.0


def start_model_warmup(project: Project) -> None:
    """Register the background load of this project's embedding model (once per server); it
    begins when `begin_model_warmups` is called after the page's script run. A fake or in-memory
    embedder has nothing to load."""
    key = str(project.folder)
    if key in _WARMUP:
        return
    state: dict[str, Any] = {"started": time.monotonic(), "seconds": None, "error": None, "thread": None}
    _WARMUP[key] = state
    embedder = project.embedder  # made here, in the caller's thread: one embedder, shared
    model = getattr(type(embedder), "model", None)
    if not isinstance(model, property):  # a fake or in-memory embedder: nothing to load
        state["seconds"] = 0.0
        return

    def load() -> None:
        time.sleep(AFTER_FIRST_PAGE_S)
        trace("model load begins")
        try:
            _ = embedder.model  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - shown in the sidebar in plain words; search reports it too
            state["error"] = f"{type(exc).__name__}: {exc}"
        state["seconds"] = round(time.monotonic() - state["started"], 1)
        trace("model ready")
        print(f"thematic: embedding model ready after {state['seconds']} s"
              + (f" ({state['error']})" if state["error"] else ""), file=sys.stderr, flush=True)

    state["load"] = load


def begin_model_warmups() -> int:
    """Start every registered load that has not begun (the workspace calls this when a script run
    ends, so the page it drew did not wait for the load). Returns how many were started."""
    started = 0
    with _BEGIN_LOCK:  # two sessions ending their first run together start one load, not two
        for state in list(_WARMUP.values()):  # a copy: another session may be opening a project
            load = state.pop("load", None)
            if load is None:
                continue
            state["thread"] = threading.Thread(target=load, name="thematic-model-warmup", daemon=True)
            state["thread"].start()
            started += 1
    return started


def model_status(project: Project) -> None:
    """A visible line in the sidebar while the model loads (refreshing itself every 5 s until it
    is ready, then rerunning the page once), and a plain sentence if loading failed."""
    state = _WARMUP.get(str(project.folder))
    if not state or (state["seconds"] is not None and not state["error"]):
        return

    @st.fragment(run_every=5 if state["seconds"] is None else None)
    def _line() -> None:
        if state["error"]:
            st.warning(render.label(f"The embedding model could not be loaded: {state['error']}"),
                       icon=":material/error:")
            return
        if state["seconds"] is not None:
            st.rerun(scope="app")
        waited = int(time.monotonic() - state["started"])
        st.info(f"Loading the embedding model in the background… {waited} s. Reading, coding and "
                "memos work now; search, quotes and themes start once it is ready (about 20 s "
                "the first time).", icon=":material/hourglass_top:")

    with st.sidebar:  # a fragment draws only inside its own container
        _line()
