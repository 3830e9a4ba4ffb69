"""CorpusIndex: sync (incremental, cached, atomic, locked), verify, search modes, filters,
interviewer exclusion, diversification, reranking, HNSW path."""

from __future__ import annotations

import numpy as np
import pytest
from filelock import FileLock

import index.corpus_index as ci_mod
from index.config import DenseSettings, SearchSettings
from index.corpus_index import CorpusIndex, IndexRecord
from index.embeddings import HashingEmbedder
from index.errors import IndexStateError


def rec(i: int, text: str, source: str = "P1", interviewer: bool = False, **attrs) -> IndexRecord:
    meta = {"source_id": source, "speaker": "Dan" if interviewer else "Participant",
            "is_interviewer": interviewer, "start": 0, "end": len(text), **attrs}
    return IndexRecord(i, text, meta)


CORPUS = [
    rec(1, "What do you think about funding for the clinics?", "P1", interviewer=True),
    rec(2, "Funding for the clinics was cut last year and staff left", "P1", sector="NHS"),
    rec(3, "The council funding for clinics paid for outreach workers", "P2", sector="Council"),
    rec(4, "Clinics funding helped volunteers run the food bank", "P3", sector="Voluntary"),
    rec(5, "Housing is the main driver of emergency admissions", "P2", sector="Council"),
    rec(6, "We track emergency admissions every week", "P3", sector="nhs"),
]


@pytest.fixture
def index(tmp_path) -> CorpusIndex:
    idx = CorpusIndex(tmp_path / "idx", embedder=HashingEmbedder())
    idx.sync(CORPUS)
    return idx


def test_sync_then_resync_embeds_nothing(tmp_path, index: CorpusIndex) -> None:
    again = CorpusIndex(tmp_path / "idx", embedder=HashingEmbedder())
    report = again.sync(CORPUS)
    assert (report.added, report.removed, report.changed, report.embedded) == (0, 0, 0, 0)
    # a fresh folder sharing the cache file embeds nothing either
    other = CorpusIndex(tmp_path / "other", embedder=HashingEmbedder(),
                        cache_path=tmp_path / "idx" / "embeddings.sqlite")
    report = other.sync(CORPUS)
    assert report.added == 6 and report.embedded == 0 and report.from_cache == 6


def test_incremental_add_remove_change(tmp_path, index: CorpusIndex) -> None:
    changed = [r for r in CORPUS if r.id != 6]
    changed[1] = rec(2, "Funding was restored after the election", "P1", sector="NHS")
    changed.append(rec(7, "Volunteers staff the food bank on Fridays", "P3"))
    report = index.sync(changed)
    assert (report.added, report.removed, report.changed, report.embedded) == (1, 1, 1, 2)
    reopened = CorpusIndex(tmp_path / "idx", embedder=HashingEmbedder())
    assert len(reopened) == 6
    ids = [h.id for h in reopened.search("emergency admissions", k=10, mode="bm25")]
    assert 6 not in ids and 5 in ids
    assert reopened.search("election restored", k=1)[0].id == 2
    meta_only = [r if r.id != 3 else rec(3, r.text, "P2", sector="Health") for r in changed]
    report = reopened.sync(meta_only)
    assert report.changed == 1 and report.embedded == 0


def test_modes_and_hit_explanations(index: CorpusIndex) -> None:
    for mode in ("hybrid", "dense", "bm25"):
        hits = index.search("emergency admissions housing", k=3, mode=mode)
        assert hits and hits[0].id == 5, mode
    hit = index.search("emergency admissions housing", k=1)[0]
    assert hit.dense_rank == 1 and hit.bm25_rank == 1
    assert hit.dense_score is not None and hit.bm25_score > 0 and hit.meta["source_id"] == "P2"
    with pytest.raises(ValueError):
        index.search("x", mode="nope")  # type: ignore[arg-type]


def test_filters_case_insensitive_and_lists(index: CorpusIndex) -> None:
    hits = index.search("funding clinics", k=10, filters={"sector": "nhs"})
    assert {h.id for h in hits} == {2, 6}
    hits = index.search("funding clinics", k=10, mode="bm25", filters={"sector": ["Council", "VOLUNTARY"]})
    assert {h.id for h in hits} == {3, 4}
    assert index.search("funding", filters={"sector": "none such"}) == []
    assert {h.id for h in index.search("admissions", filters={"source_id": "P3"})} <= {4, 6}


def test_interviewer_excluded_unless_asked(index: CorpusIndex) -> None:
    assert 1 not in [h.id for h in index.search("what do you think about funding", k=10)]
    hits = index.search("what do you think about funding", k=10, exclude_interviewer=False)
    assert hits[0].id == 1
    hits = index.search("what do you think", k=10, filters={"is_interviewer": True})
    assert [h.id for h in hits] == [1]


def test_diversify_spreads_sources(tmp_path) -> None:
    recs = [rec(i, f"funding clinics staff budget cuts story {i}", "P1") for i in range(1, 6)]
    recs += [rec(10, "funding for clinics was also discussed", "P2"),
             rec(11, "clinics and funding came up briefly", "P3")]
    idx = CorpusIndex(tmp_path / "d", embedder=HashingEmbedder())
    idx.sync(recs)
    plain = idx.search("funding clinics staff budget cuts", k=3)
    assert {h.meta["source_id"] for h in plain} == {"P1"}
    spread = idx.search("funding clinics staff budget cuts", k=3, diversify=0.5)
    assert len({h.meta["source_id"] for h in spread}) >= 2 and spread[0].meta["source_id"] == "P1"
    wide = idx.search("funding clinics staff budget cuts", k=3, diversify=0.3)
    assert {h.meta["source_id"] for h in wide} == {"P1", "P2", "P3"}


def test_crash_mid_write_keeps_previous_index(tmp_path, index: CorpusIndex, monkeypatch) -> None:
    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ci_mod, "write_json_atomic", boom)
    with pytest.raises(OSError):
        index.sync(CORPUS + [rec(9, "a brand new excerpt about parks", "P4")])
    monkeypatch.undo()
    monkeypatch.setattr(ci_mod.Bm25Index, "write_into", boom)
    with pytest.raises(OSError):
        index.sync(CORPUS[:2])
    monkeypatch.undo()
    survivor = CorpusIndex(tmp_path / "idx", embedder=HashingEmbedder())
    assert len(survivor) == 6 and survivor.verify(CORPUS).ok
    assert survivor.sync(CORPUS + [rec(9, "parks", "P4")]).added == 1  # and it recovers


def test_lock_waits_then_gives_up_with_one_line(tmp_path, index: CorpusIndex) -> None:
    index.lock_timeout = 0.2
    said: list[str] = []
    with (FileLock(str(tmp_path / "idx" / ".lock")),
          pytest.raises(IndexStateError, match="still updating the index after") as err):
        index.sync(CORPUS[:3], notify=said.append)
    assert "\n" not in str(err.value) and said == [ci_mod.WAIT_MESSAGE]
    assert len(CorpusIndex(tmp_path / "idx", embedder=HashingEmbedder())) == 6  # untouched


def test_lock_wait_ends_when_the_other_writer_finishes(tmp_path, index: CorpusIndex) -> None:
    import threading

    holder = FileLock(str(tmp_path / "idx" / ".lock"), thread_local=False)  # released by a timer
    holder.acquire()
    threading.Timer(0.5, holder.release).start()
    said: list[str] = []
    report = index.sync(CORPUS[:3], notify=said.append)
    assert said == [ci_mod.WAIT_MESSAGE] and report.removed == 3 and report.waited >= 0.3
    assert index.sync(CORPUS[:3], notify=said.append).waited == 0 and len(said) == 1


def test_updating_is_reentrant_and_tags_the_manifest(tmp_path, index: CorpusIndex) -> None:
    with index.updating():
        report = index.sync(CORPUS, tag="store-v1")  # the inner sync takes the lock again
    assert not report.changed_index and index.tag == "store-v1"  # only the tag was written
    other = CorpusIndex(tmp_path / "idx", embedder=HashingEmbedder())
    assert other.tag == "store-v1"
    index.sync(CORPUS[:4], tag="store-v2")
    assert other.tag == "store-v2" and len(other.search("clinics", k=10, mode="bm25")) <= 3
    assert 6 not in [h.id for h in other.search("emergency admissions", k=10, mode="bm25")]


def test_verify_reports(tmp_path, index: CorpusIndex) -> None:
    assert index.verify(CORPUS).ok
    given = [r for r in CORPUS if r.id != 2] + [rec(8, "new", "P4")]
    given[0] = rec(1, "changed question", "P1", interviewer=True)
    report = index.verify(given)
    assert report.missing == [8] and report.stale == [1] and report.extra == [2]
    assert not report.settings_changed
    other = SearchSettings()
    other.bm25.k1 = 2.0
    assert CorpusIndex(tmp_path / "idx", other, HashingEmbedder()).verify(CORPUS).settings_changed
    assert CorpusIndex(tmp_path / "nothing", embedder=HashingEmbedder()).verify(CORPUS).missing
    assert not CorpusIndex.exists(tmp_path / "nothing") and CorpusIndex.exists(tmp_path / "idx")


def test_settings_change_rebuilds(tmp_path, index: CorpusIndex) -> None:
    s = SearchSettings()
    s.bm25.stemmer = None
    report = CorpusIndex(tmp_path / "idx", s, HashingEmbedder()).sync(CORPUS)
    assert report.rebuilt and report.embedded == 0


def test_hnsw_used_above_threshold(tmp_path) -> None:
    s = SearchSettings(dense=DenseSettings(ann_threshold=3))
    idx = CorpusIndex(tmp_path / "h", s, HashingEmbedder())
    idx.sync(CORPUS)
    assert idx.manifest["dense_kind"] == "hnsw"
    assert idx.search("emergency admissions housing", k=1, mode="dense")[0].id == 5
    assert CorpusIndex(tmp_path / "h", s, HashingEmbedder()).search("housing", k=1)[0].id == 5


class FakeCrossEncoder:
    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []

    def predict(self, pairs):
        self.pairs = list(pairs)
        return np.array([float("volunteers" in p) for _, p in pairs])


def test_rerank_with_stand_in(tmp_path) -> None:
    fake = FakeCrossEncoder()
    idx = CorpusIndex(tmp_path / "r", embedder=HashingEmbedder(), reranker=fake)
    idx.sync(CORPUS)
    hits = idx.search("funding clinics", k=2, rerank=True)
    assert hits[0].id == 4 and hits[0].rerank_score == 1.0
    assert fake.pairs and all(q == "funding clinics" for q, _ in fake.pairs)
    assert idx.search("funding clinics", k=2)[0].rerank_score is None
    bare = CorpusIndex(tmp_path / "r", embedder=HashingEmbedder())
    with pytest.raises(IndexStateError, match="no rerank model"):
        bare.search("funding", rerank=True)


def test_empty_index_and_query(tmp_path) -> None:
    idx = CorpusIndex(tmp_path / "e", embedder=HashingEmbedder())
    assert idx.search("anything") == []
    idx.sync([])
    assert idx.search("anything") == [] and len(idx) == 0


class NegativeCrossEncoder:
    """Cross-encoders return logits, often all negative: far below the fused scores of the tail."""

    def predict(self, pairs):
        return np.array([-2.0 if "volunteers" in p else -8.0 for _, p in pairs])


def test_rerank_then_diversify_keeps_reranked_order(tmp_path) -> None:
    s = SearchSettings()
    s.rerank.top_n = 3
    idx = CorpusIndex(tmp_path / "rd", s, HashingEmbedder(), reranker=NegativeCrossEncoder())
    idx.sync(CORPUS)
    hits = idx.search("funding clinics", k=3, rerank=True, diversify=0.9)
    assert hits[0].id == 4 and hits[0].rerank_score == -2.0
    assert all(h.rerank_score is not None for h in hits)  # no fused-score tail jumps ahead
    more = idx.search("funding clinics", k=5, rerank=True, diversify=0.9)
    assert [h.rerank_score is not None for h in more] == [True] * 3 + [False] * 2


def _damage_manifest(folder, how: str) -> None:
    import json

    path = folder / "manifest.json"
    if how == "truncated":
        path.write_text(path.read_text()[:40])
    else:
        manifest = json.loads(path.read_text())
        manifest["generation"] = "gen-999999"
        path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("how", ["truncated", "missing generation"])
def test_damaged_index_is_reported_and_rebuilt(tmp_path, index: CorpusIndex, how: str) -> None:
    folder = tmp_path / "idx"
    _damage_manifest(folder, how)
    with pytest.raises(IndexStateError, match="idx"):
        index._load()
    damaged = CorpusIndex(folder, embedder=HashingEmbedder())  # no traceback on open
    assert len(damaged) == 0 and damaged.search("funding") == []
    assert damaged.load_error is not None and str(folder) in str(damaged.load_error)
    report = damaged.verify(CORPUS)
    assert not report.ok and report.unreadable and report.settings_changed
    assert sorted(report.missing) == [r.id for r in CORPUS]
    rebuilt = damaged.sync(CORPUS)
    assert rebuilt.added == 6 and rebuilt.embedded == 0 and rebuilt.from_cache == 6
    reopened = CorpusIndex(folder, embedder=HashingEmbedder())
    assert reopened.load_error is None and len(reopened) == 6 and reopened.verify(CORPUS).ok
    assert reopened.search("emergency admissions", k=1, mode="bm25")[0].id in (5, 6)
    # a live handle whose index is damaged under it rebuilds on sync too
    _damage_manifest(folder, how)
    assert reopened.sync(CORPUS).added == 6 and CorpusIndex(folder, embedder=HashingEmbedder()).verify(CORPUS).ok
