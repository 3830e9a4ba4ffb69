"""Errors of the corpus layer. Each names the file and the problem, because an analyst ingesting a
folder of 90 files needs to know which one failed and why, not a traceback."""

from __future__ import annotations

from pathlib import Path


class IndexLayerError(Exception):
    """Base class for corpus-layer errors."""


class ReadError(IndexLayerError):
    """A source file could not be read into text."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class IndexStateError(IndexLayerError):
    """The on-disk index does not match what it is asked to do (missing, stale, locked)."""
