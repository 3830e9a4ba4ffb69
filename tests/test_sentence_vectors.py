"""Sentence vectors from the excerpt's own forward pass, cached beside the excerpt vectors, so
pre-coding never embeds the corpus a second time; and rationales that say what matched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builders import build_coding_project

from index.embeddings import (
    EmbeddingCache,
    HashingEmbedder,
    embed_with_sentences_cache,
    excerpt_sentence_spans,
)

TEXTS = ["The damp is terrible. People cannot heat their homes.", "Short-term funding. Nobody can plan!",
         "One sentence only"]


class Counting(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(64)
        self.batches: list[list[str]] = []

    def embed_batch(self, texts):
        self.batches.append(list(texts))
        return super().embed_batch(texts)


def test_sentence_blocks_follow_the_shared_spans_and_come_from_cache(tmp_path: Path) -> None:
    emb = Counting()
    cache = EmbeddingCache(tmp_path / "e.sqlite")
    X, blocks = embed_with_sentences_cache(emb, TEXTS, cache)
    assert [len(b) for b in blocks] == [len(excerpt_sentence_spans(t)) for t in TEXTS] == [2, 2, 1]
    assert np.allclose(X, emb.embed_batch(TEXTS))
    first = excerpt_sentence_spans(TEXTS[0])[0]
    assert np.allclose(blocks[0][0], emb.embed_batch([TEXTS[0][first[0]:first[1]]])[0])
    emb.batches.clear()
    X2, blocks2 = embed_with_sentences_cache(emb, TEXTS + [TEXTS[0]], cache)  # all cached now
    assert emb.batches == [] and np.allclose(X2[:3], X) and np.allclose(blocks2[3], blocks[0])
    cache.close()


def test_precode_reads_sentence_vectors_the_index_cached(tmp_path: Path) -> None:
    """The offline engine gets each excerpt's sentences from the cache the index filled: after
    the excerpts are embedded, pre-coding embeds only the codebook."""
    from assistant.coding.precode import precode
    from assistant.coding.suggest.offline import project_embedders

    project = build_coding_project(tmp_path)
    emb = Counting()
    project.set_embedder(emb)
    _, embed_sentences = project_embedders(project)
    texts = [e.text for e in project.store.list_excerpts()]
    embed_sentences(texts)  # what the index does when it embeds the excerpts
    emb.batches.clear()
    precode(project, "offline")
    embedded = {t for b in emb.batches for t in b}
    sentences = {t[s:e] for t in texts for s, e in excerpt_sentence_spans(t)} - set(texts)
    assert embedded and not embedded & sentences and not embedded & set(texts)
    project.close()


def test_rationale_names_the_words_the_sentence_and_the_nearest_coded_excerpt(tmp_path: Path) -> None:
    from assistant.coding import decisions
    from assistant.coding.precode import precode

    project = build_coding_project(tmp_path)
    coded = next(e for e in project.store.list_excerpts() if "damp" in e.text)
    decisions.add_coding(project, coded.source_id, coded.start, coded.end, "Housing and living conditions")
    from builders import INTERVIEWER, add_turns_source

    add_turns_source(project, "P09", [(INTERVIEWER, "Homes?"),
                                      ("Lee", "Mould grows on the walls. Damp flats make the children ill.")],
                     {"participant": "Lee"})
    precode(project, "offline")
    housing = project.store.get_code("Housing and living conditions").id
    (s,) = [s for s in project.store.list_suggestions() if s.code_id == housing and "Mould grows" in (
        project.store.list_excerpts(ids=[s.excerpt_id])[0].text)]
    r = s.rationale
    assert "mould" in r and "damp" in r  # the words shared with the code's description
    assert "nearest excerpt you coded with it" in r and "P01, Sarah Jones" in r
    assert "z=" not in r and "dense" not in r
    project.close()


@pytest.mark.slow
def test_real_model_pools_sentences_from_the_excerpt_pass() -> None:
    from index.embeddings import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder("default")
    spans = [excerpt_sentence_spans(t) for t in TEXTS]
    X, blocks = emb.embed_batch_with_sentences(TEXTS, spans)
    assert np.allclose(X, emb.embed_batch(TEXTS), atol=1e-5)  # the excerpt vector is unchanged
    alone = emb.embed_batch([t[s:e] for t, sp in zip(TEXTS, spans) for s, e in sp])
    pooled = np.concatenate(blocks)
    assert np.allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-5)
    cos = (pooled * alone).sum(1)
    assert cos.min() > 0.6  # the same sentence, read in context
    # each pooled sentence is nearer its own standalone vector than the other sentences'
    assert (np.argmax(pooled @ alone.T, axis=1) == np.arange(len(alone))).all()
