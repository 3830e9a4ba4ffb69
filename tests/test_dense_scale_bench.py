"""The dense-scale benchmark measures the product's own DenseIndex (auto kind, generation folder,
memory-mapped load), and its projection and choice rule say what they should. The IVF-PQ search
behaviour itself is covered in test_dense_ivfpq.py; this file covers what the benchmark adds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import benchmarks.dense_scale as bench
from index.config import DenseSettings
from index.dense import DenseIndex

DIM = 64
N = 20_000
# auto kind with the IVF-PQ threshold lowered below N (8 sub-quantisers keep training to seconds)
LOW = {"ivfpq_threshold": 10_000, "ivfpq_m": 8}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    work = tmp_path_factory.mktemp("dense-scale")
    return work, bench.build_child(N, work, DIM, LOW)


def test_build_goes_through_the_product_path(published: tuple[Path, dict]) -> None:
    work, build = published
    assert build["kind"] == "ivfpq" and build["n"] == N  # chosen by the auto rule, not forced
    assert build["settings"]["kind"] == "auto" and build["settings"]["ivfpq_threshold"] == 10_000
    folder = work / "gen-000001" / "dense"
    assert sorted(p.name for p in folder.iterdir()) == ["dense.json", "ids.npy", "index.faiss", "vectors.npy"]
    assert not list(work.glob("*.tmp"))  # published by rename, as CorpusIndex does
    assert build["files_mb"]["vectors.npy"] == pytest.approx(N * DIM * 4 / 2**20, abs=0.2)
    loaded = DenseIndex.load(folder)
    assert loaded.kind == "ivfpq" and isinstance(loaded._vectors, np.memmap)


class _Stop(Exception):
    pass


def test_ivfpq_skips_polysemous_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """The factory's default polysemous training is never used by this index (candidates are
    re-ranked exactly) and made the build 40x slower: the index is asked for without it."""
    import faiss

    asked: list[str] = []

    def spy(dim: int, description: str, metric: int) -> None:
        asked.append(description)
        raise _Stop

    monkeypatch.setattr(faiss, "index_factory", spy)
    with pytest.raises(_Stop):
        DenseIndex(DIM, DenseSettings(**LOW))._train_ivfpq(np.zeros((N, DIM), np.float32))
    assert asked == ["IVF512,PQ8np"]


def test_loaded_folder_finds_stored_vectors_and_neighbours(published: tuple[Path, dict]) -> None:
    work, _ = published
    loaded = DenseIndex.load(work / "gen-000001" / "dense")
    vectors = bench.Clustered(DIM).collection(N)  # the same draw the build used
    ids = bench.ids_for(N)
    for p in np.random.default_rng(3).choice(N, 50, replace=False):
        got, _ = loaded.search(vectors[p], 10)
        assert ids[p] in got.tolist()
    # the benchmark's ground truth is exact top-10 by ids, and its query phase scores against it
    truth = np.load(work / "truth.npy")
    queries = np.load(work / "queries.npy")
    s = vectors @ queries[0]
    assert set(truth[0].tolist()) == set(ids[np.argsort(-s)[:10]].tolist())
    out = bench.query_child(work, LOW, sweep=[64])
    assert out["kind"] == "ivfpq" and out["n"] == N
    assert out["recall@10"] >= 0.95 and out["sweep"][0]["recall@10"] >= out["recall@10"] - 0.01
    assert 0 < out["ms_p50"] <= out["ms_p95"]
    json.dumps(out)  # the figures are plain JSON


def test_fits_and_trend() -> None:
    a, b = bench.fit_linear([(1e6, 150.0), (2e6, 250.0)])
    assert (round(a), round(b * 1e6)) == (50, 100)
    assert bench.fit_linear([(1e6, 300.0)]) == (0.0, 300.0 / 1e6)
    c, p = bench.fit_power([(1e6, 100.0), (4e6, 800.0)])
    assert p == pytest.approx(1.5) and c * 2e6 ** p == pytest.approx(100 * 2 ** 1.5)
    # recall falls 0.02 per decade here: 5M is log10(5) decades on from 1M
    assert bench.trend_recall([(1e5, 0.99), (1e6, 0.97)], 5e6) == pytest.approx(0.97 - 0.02 * np.log10(5), abs=1e-4)
    assert bench.trend_recall([(1e6, 0.97), (2e6, 0.98)], 5e6) == 0.98  # never extrapolated upwards
    # wall times under different loads that fit to a shrinking build time fall back to the
    # largest size scaled by the kind's exponent
    secs, p, how = bench.project_time([(2e5, 517.0), (1e6, 431.0)], "hnsw", 5_000_000)
    assert p == 1.15 and secs == pytest.approx(431.0 * 5 ** 1.15) and "largest size" in how
    secs, p, _ = bench.project_time([(5e5, 100.0), (1e6, 250.0)], "ivfpq", 2_000_000)
    assert p == pytest.approx(np.log2(2.5)) and secs == pytest.approx(625.0)


def test_choice_rule() -> None:
    cands = [{"kind": "hnsw", "recall@10": 0.964, "serving_mb": 1638.0},
             {"kind": "ivfpq", "recall@10": 0.996, "serving_mb": 150.0},
             {"kind": "flat", "recall@10": 1.0, "serving_mb": 1500.0}]
    assert bench.choose(cands)["kind"] == "ivfpq"
    cands[1]["recall@10"] = 0.94  # below the bar: the cheapest of those above it
    c = bench.choose(cands)
    assert c["kind"] == "flat" and c["eligible"] == ["hnsw", "flat"]
    low = [{"kind": "hnsw", "recall@10": 0.93, "serving_mb": 10.0}, {"kind": "ivfpq", "recall@10": 0.94, "serving_mb": 99.0}]
    assert bench.choose(low)["kind"] == "ivfpq" and "no kind" in bench.choose(low)["rule"]


def test_projection_mixes_measured_and_recorded() -> None:
    def run(kind: str, n: int, serving: float, peak: float, secs: float, rec: float) -> dict:
        return {"kind": kind, "n": n, "build": {"peak_rss_mb": peak, "sampled_peak_anon_mb": peak / 2,
                                                "build_and_save_s": secs},
                "query": {"index_rss_mb": serving, "recall@10": rec}}

    measured = [run("ivfpq", 1_000_000, 150, 3200, 120, 0.996), run("ivfpq", 2_000_000, 280, 6300, 280, 0.994),
                run("hnsw", 200_000, 330, 700, 60, 0.99)]
    proj = bench.project(measured, 5_000_000)
    assert proj["ivfpq"]["serving_mb"] == 150 + 130 * 4 and proj["ivfpq"]["source"] == "projected"
    assert proj["ivfpq"]["recall@10"] < 0.994
    # HNSW uses its recorded 1M build (the fit passes through it) next to the measured 200k
    assert (1_000_000, 431.0) in proj["hnsw"]["from"]["build_s"]
    assert bench.candidates_at(measured, 1_000_000)[1]["source"] == "recorded"
