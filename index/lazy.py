"""Modules imported on first use. FAISS, bm25s (which pulls numba and scipy) and the embedding
stack take seconds to import; a `thematic search --mode bm25` or a `--help` needs none of them, and
a name bound at module level keeps call sites unchanged (`faiss.IndexFlatIP(...)`)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands in for `import name`: the real import happens on the first attribute access, and
    nothing is put in `sys.modules` before then (so "was faiss imported?" stays answerable)."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def load(self) -> ModuleType:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)  # keep copy/pickle/inspect probes from importing it
        return getattr(self.load(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r} ({state})>"
