"""The embedding model, loaded once per server in a background thread when the project is first
opened, with a visible line in the sidebar until it is ready: the first page shows at once, and
the first search or theme draft does not sit on a silent spinner while half a minute of model
loading happens behind it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages import render
from assistant.project import Project

_WARMUP: dict[str, dict[str, Any]] = {}  # project folder -> {"thread", "started", "seconds", "error"}
# Seconds the load waits before it starts: importing torch holds the interpreter for seconds, and
# started at once it doubled the time to the first page (7.9 s cold on two cores). A search asked
# for in this interval loads the model itself, under the same lock.
START_DELAY_S = 3.0


def start_model_warmup(project: Project) -> None:
    """Load the embedding model in a background thread as soon as the project is opened (once per
    server), so the first page shows at once and the first search or theme draft does not wait
    half a minute on a silent spinner. The model's own lock makes a search that comes first
    wait for this load rather than start a second one."""
    import sys
    import threading
    import time

    key = str(project.folder)
    if key in _WARMUP:
        return
    state: dict[str, Any] = {"started": time.monotonic(), "seconds": None, "error": None}
    _WARMUP[key] = state
    embedder = project.embedder  # made here, in the caller's thread: one embedder, shared
    model = getattr(type(embedder), "model", None)
    if not isinstance(model, property):  # a fake or in-memory embedder: nothing to load
        state["seconds"] = 0.0
        return

    def load() -> None:
        time.sleep(START_DELAY_S)
        try:
            _ = embedder.model  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - shown in the sidebar in plain words; search reports it too
            state["error"] = f"{type(exc).__name__}: {exc}"
        state["seconds"] = round(time.monotonic() - state["started"], 1)
        print(f"thematic: embedding model ready after {state['seconds']} s"
              + (f" ({state['error']})" if state["error"] else ""), file=sys.stderr, flush=True)

    state["thread"] = threading.Thread(target=load, name="thematic-model-warmup", daemon=True)
    state["thread"].start()


def model_status(project: Project) -> None:
    """A visible line in the sidebar while the model loads (refreshing itself every 5 s until it
    is ready, then rerunning the page once), and a plain sentence if loading failed."""
    state = _WARMUP.get(str(project.folder))
    if not state or (state["seconds"] is not None and not state["error"]):
        return

    @st.fragment(run_every=5 if state["seconds"] is None else None)
    def _line() -> None:
        import time

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
