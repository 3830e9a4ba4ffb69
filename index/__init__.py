"""The corpus layer: reading sources into one canonical text each, cutting it into excerpts, and
finding excerpts again (dense, lexical and hybrid search).

Nothing here knows about codes, language models or screens; `assistant` builds on it.
"""
