"""Fusion maths against hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest

from index.fusion import convex, mmr, normalise, rrf


def test_rrf_hand_computed() -> None:
    # a: 1/(60+1) + 1/(60+2); b: 1/(60+2) + 1/(60+1); c: 1/(60+3) only
    out = dict(rrf([["a", "b", "c"], ["b", "a"]], k=60))
    assert out["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert out["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert out["c"] == pytest.approx(1 / 63)


def test_rrf_weights_and_order() -> None:
    out = rrf([["a", "b"], ["b", "a"]], weights=[2.0, 1.0], k=1)
    # a: 2/2 + 1/3 = 1.3333; b: 2/3 + 1/2 = 1.1667
    assert [x for x, _ in out] == ["a", "b"]
    assert out[0][1] == pytest.approx(4 / 3) and out[1][1] == pytest.approx(7 / 6)
    with pytest.raises(ValueError):
        rrf([["a"]], weights=[1.0, 2.0])


def test_normalise() -> None:
    np.testing.assert_allclose(normalise(np.array([2.0, 4.0, 6.0])), [0, 0.5, 1])
    np.testing.assert_allclose(normalise(np.array([3.0, 3.0])), [1, 1])
    np.testing.assert_allclose(normalise(np.array([1.0, 3.0]), "zscore"), [-1, 1])
    np.testing.assert_allclose(normalise(np.array([5.0]), "zscore"), [0])


def test_convex_minmax_hand_computed() -> None:
    dense = {"a": 0.9, "b": 0.5, "c": 0.1}  # -> a 1, b 0.5, c 0
    bm25 = {"b": 10.0, "d": 2.0}  # -> b 1, d 0; a, c missing -> floor 0
    out = dict(convex([dense, bm25], [0.6, 0.4]))
    assert out["a"] == pytest.approx(0.6)
    assert out["b"] == pytest.approx(0.6 * 0.5 + 0.4 * 1.0)
    assert out["c"] == pytest.approx(0.0)
    assert out["d"] == pytest.approx(0.6 * 0.0 + 0.4 * 0.0)
    assert convex([dense, bm25], [0.6, 0.4])[0][0] == "b"


def test_convex_zscore_missing_gets_floor() -> None:
    out = dict(convex([{"a": 1.0, "b": 3.0}, {"a": 5.0}], [1.0, 1.0], "zscore"))
    # first map: a -1, b +1; second: a alone -> 0; b missing -> floor 0
    assert out["a"] == pytest.approx(-1.0) and out["b"] == pytest.approx(1.0)


def test_mmr_lambda_one_is_relevance_order() -> None:
    rel = np.array([0.2, 0.9, 0.5])
    vecs = np.eye(3)
    assert mmr(rel, vecs, 1.0, 3) == [1, 2, 0]


def test_mmr_penalises_near_duplicates_hand_computed() -> None:
    # rel normalised: [1, 0.9, 0]; d0 and d1 identical, d2 orthogonal.
    rel = np.array([1.0, 0.91, 0.1])
    vecs = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # step 2 with lambda .5: d1 = .5*.9 - .5*1 = -.05; d2 = .5*0 - .5*0 = 0 -> d2 wins
    assert mmr(rel, vecs, 0.5, 2) == [0, 2]


def test_mmr_group_penalty_spreads_sources() -> None:
    rel = np.array([1.0, 0.95, 0.9, 0.5])
    vecs = np.eye(4)  # all orthogonal: only the group term differs
    groups = ["P1", "P1", "P1", "P2"]
    # step 2 (lambda .5, penalty .3): d1 = .5*.9 - .5*.3 = .3; d3 = .5*0 = 0 -> d1 (0.5 rel gap)
    # with penalty 1: d1 = .45 - .5 = -.05 < 0 -> d3
    assert mmr(rel, vecs, 0.5, 2, groups, group_penalty=1.0) == [0, 3]
    assert mmr(rel, vecs, 0.5, 2, groups, group_penalty=0.3) == [0, 1]
