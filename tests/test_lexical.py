"""Bm25Index: tokeniser settings, variants, filters, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from index.config import Bm25Settings
from index.lexical import Bm25Index, Tokenizer

TEXTS = ["The nurses were running the ward", "Funding for the council ran out",
         "We run weekly clinics", "Nothing relevant here at all"]


def test_tokenizer_stems_and_drops_stopwords() -> None:
    t = Tokenizer(Bm25Settings(stemmer="english", stopwords="en"))
    assert t("The nurses are RUNNING") == ["nurs", "run"]
    raw = Tokenizer(Bm25Settings(stemmer=None, stopwords=None))
    assert raw("The nurses") == ["the", "nurses"]
    custom = Tokenizer(Bm25Settings(stemmer=None, stopwords=["nurses"]))
    assert custom("The nurses") == ["the"]


@pytest.mark.parametrize("method", ["lucene", "robertson", "atire", "bm25l", "bm25+"])
def test_variants_find_stemmed_match(method: str) -> None:
    b = Bm25Index(Bm25Settings(method=method))
    b.build(np.array([10, 11, 12, 13]), TEXTS)
    ids, scores = b.search("running clinics", 10)
    assert ids[0] == 12 and 13 not in ids.tolist()
    assert (np.diff(scores) <= 0).all()


def test_filter_and_stopword_only_query() -> None:
    b = Bm25Index()
    b.build(np.array([1, 2, 3, 4]), TEXTS)
    ids, _ = b.search("run", 10, allowed_ids=np.array([1, 2]))
    assert ids.tolist() == [1]
    assert len(b.search("zzz qqq", 5)[0]) == 0  # no shared word: nothing, not noise
    stop = Bm25Index(Bm25Settings(stopwords="en"))
    stop.build(np.array([1, 2, 3, 4]), TEXTS)
    assert len(stop.search("the of and", 5)[0]) == 0


def test_save_load(tmp_path) -> None:
    b = Bm25Index(Bm25Settings(method="bm25+", k1=1.1, b=0.6, stemmer=None))
    b.build(np.array([7, 8, 9, 10]), TEXTS)
    b.save(tmp_path / "bm")
    c = Bm25Index.load(tmp_path / "bm")
    assert c.settings == b.settings
    for q in ("council funding", "ward"):
        np.testing.assert_array_equal(c.search(q, 3)[0], b.search(q, 3)[0])
        np.testing.assert_allclose(c.search(q, 3)[1], b.search(q, 3)[1], rtol=1e-6)
