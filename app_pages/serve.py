"""Start the Streamlit server for the workspace, and import what the first page needs while no one
is connected yet: `python -m app_pages.serve run app_pages/workspace.py [flags] -- --project DIR`
takes exactly the arguments of `streamlit run` (it is `streamlit run`, plus this).

Why: Streamlit imports a script's modules only when the first browser connects, so the first page
paid for the store engine (SQLAlchemy), the typed records (pydantic), numpy and the page modules
(about 1.5 s on two cores) in the seconds the analyst waits for it, while the server sat idle
between start-up and that first connection. Here those imports happen in that idle time, in a
background thread started once the server is up. They are the same modules the first script run
would import, in the same order, so a browser that connects during the preload only waits for the
module being imported; an import that fails here is left for the script run to report in words.

Not the embedding model: torch would hold the interpreter while the first page is drawn (see
`app_pages.warmup`, which loads it after the first page)."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time

# what the first page (the workspace frame and the Corpus page) imports, in the order it does
# (tests/test_first_page_imports.py checks that it covers the Corpus page's own imports)
FIRST_PAGE_MODULES = (
    "app_pages.workspace",
    "streamlit.emojis",  # st.set_page_config checks the page icon against these,
    "streamlit.material_icon_names",  # and every `:material/...:` icon against these
    "streamlit.runtime.scriptrunner.magic_funcs",
    "streamlit.components.v2.manifest_scanner",
    "sqlalchemy.dialects.sqlite.pysqlite",  # the store's engine, made when the project opens
    "assistant.llm.pseudonymise",  # the display names (pseudonymised display)
    "app_pages.panels",
    "app_pages.support",
    "assistant.coding.orphans",
    "assistant.corpus.attributes",
    "index.embeddings",  # the model's wrapper class (not the model), made when the project opens
)
SERVER_WAIT_S = 60.0
TRACE_ENV = "THEMATIC_STARTUP_TRACE"


def trace(step: str) -> None:
    """With THEMATIC_STARTUP_TRACE=1, one line `thematic-startup <unix time> <step>` on stderr:
    benchmarks/page_speed.py reads them to break the cold first page down into its steps."""
    if os.environ.get(TRACE_ENV):
        print(f"thematic-startup {time.time():.3f} {step}", file=sys.stderr, flush=True)


def preload(modules: tuple[str, ...] = FIRST_PAGE_MODULES, wait_for_server: bool = True) -> list[str]:
    """Import `modules` once the server has started (so its own start-up is not slowed); returns
    the modules that could not be imported (the page will say why)."""
    if wait_for_server:
        deadline = time.monotonic() + SERVER_WAIT_S
        while not _server_started() and time.monotonic() < deadline:
            time.sleep(0.05)
    trace("preload starts")
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the first script run imports it again and reports it
            failed.append(name)
    trace("preload done")
    return failed


def _server_started() -> bool:
    """The runtime has left its initial state: the server's start-up (which runs the runtime's
    start as it begins serving) is over, so the preload no longer slows it."""
    from streamlit import runtime
    from streamlit.runtime.runtime import RuntimeState

    return runtime.exists() and runtime.get_instance().state is not RuntimeState.INITIAL


def main(argv: list[str] | None = None) -> None:
    """`streamlit run` with the first page's modules imported in the background meanwhile."""
    # imported in this thread first, so the server's own start-up does not share the interpreter
    from streamlit.web import cli

    threading.Thread(target=preload, name="thematic-preload", daemon=True).start()
    cli.main(args=list(sys.argv[1:] if argv is None else argv), prog_name="streamlit")


if __name__ == "__main__":
    main()
