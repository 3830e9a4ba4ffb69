"""One way from text to excerpts: ingest and a .qdpx import cut the same text into the same
excerpts and guess the same kind, so an imported transcript behaves like an ingested one."""

from __future__ import annotations

import pytest

from assistant.corpus.excerpting import excerpt_spans, guess_kind, interviewer_names
from assistant.corpus.ingest import ingest_paths
from assistant.exchange.refi.writer import _excerpts
from assistant.models import Source
from assistant.project import Project
from index.embeddings import HashingEmbedder

CHAT = ("Sam: Hello, how long have you lived here?\nAlex: Ten years, near the ring road.\n"
        "Sam: And the flat?\nAlex: Damp, always damp, and the landlord never answers.\n")
NOTE = "A field note. The food bank queue was long on Tuesday.\n\nSecond paragraph, about the weather."


@pytest.fixture
def project(tmp_path):
    p = Project.init(tmp_path / "study")
    p.set_embedder(HashingEmbedder(64))
    yield p
    p.close()


def _shape(excerpts):
    return [(e.start, e.end, e.speaker, e.is_interviewer) for e in excerpts]


@pytest.mark.parametrize("text, attrs, kind", [
    (CHAT, {}, "interview"),
    (CHAT, {"interviewer": "Alex"}, "interview"),  # a source's own interviewer attribute counts in both
    (NOTE, {}, "document"),
])
def test_ingest_and_qdpx_import_cut_a_text_the_same_way(project, tmp_path, text, attrs, kind):
    path = tmp_path / "chat.txt"
    path.write_text(text)
    ingest_paths(project, [path], index=False, attributes=attrs)
    ingested = project.store.get_source("chat.txt")
    imported = project.store.add_source(Source(name="imported", kind="document", text=ingested.text, attributes=attrs))
    from_import = _excerpts(project, imported, None)
    assert _shape(from_import) == _shape(project.store.list_excerpts(source_id=ingested.id))
    assert ingested.kind == project.store.get_source("imported").kind == kind
    if attrs:
        assert {e.speaker for e in from_import if e.is_interviewer} == {"Alex"}


def test_kind_guess_follows_the_shape_and_the_suffix(project):
    spans = excerpt_spans(CHAT, interviewer_names(project.settings.ingest.interviewer), project.settings.chunking)
    assert guess_kind(spans) == "interview"
    assert guess_kind(spans, ".CSV") == "survey"
    one_voice = excerpt_spans(NOTE, [], project.settings.chunking)
    assert guess_kind(one_voice) == "document" and guess_kind(one_voice, ".vtt") == "interview"
    assert interviewer_names(["q"], {"interviewer": " Sam ; Jo;"}) == ["q", "Sam", "Jo"]
