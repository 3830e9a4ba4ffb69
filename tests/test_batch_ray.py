"""Batch work on Ray (`assistant.batch`), on a private local Ray cluster per test process (safe
under xdist: each worker starts its own with address="local", 2 CPUs, a small object store).

The Ray run must make exactly the suggestions of the in-process run, write each block once in one
transaction, and resume after a kill without writing a block twice; the embeddings it computes
must feed the search index through the cache. Without Ray, `--executor ray` is one line."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from builders import build_coding_project, checkpoint

from assistant.batch.blocks import plan_blocks, todo_blocks
from assistant.batch.cluster import ActorOptions, require_ray
from assistant.errors import ThematicError
from assistant.project import Project
from index.embeddings import EmbeddingCache, HashingEmbedder

DIMS = 256


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray")
    from assistant.batch.cluster import connect

    connect(None, num_cpus=2, object_store_mb=96)
    yield ray
    ray.shutdown()


def _open(folder: Path) -> Project:
    p = Project.open(folder)
    p.set_embedder(HashingEmbedder(DIMS))
    return p


@pytest.fixture
def twins(tmp_path: Path):
    """Two identical copies of the coding project (one per executor)."""
    build_coding_project(tmp_path / "a").close()
    checkpoint(tmp_path / "a" / "proj")
    shutil.copytree(tmp_path / "a" / "proj", tmp_path / "b")
    a, b = _open(tmp_path / "a" / "proj"), _open(tmp_path / "b")
    yield a, b
    a.close()
    b.close()


def _suggestions(p: Project) -> list[tuple]:
    return sorted((s.excerpt_id, s.code_id, s.score, s.evidence_start, s.evidence_end, s.status)
                  for s in p.store.list_suggestions(status=None))


class Killed(Exception):
    """Stands in for the driver dying between two blocks."""


def test_ray_precode_matches_in_process_and_resumes_without_writing_a_block_twice(ray_cluster, twins) -> None:
    from assistant.batch.precode import excerpts_coded_once, precode_blocks
    from assistant.coding.precode import precode

    a, b = twins
    local = precode(a, "offline")
    options = ActorOptions(block_size=1, actors=2, cpus_per_actor=1)

    def kill(n: int) -> None:
        if n == 2:
            raise Killed

    with pytest.raises(Killed):
        precode_blocks(b, "ray", options=options, after_block=kill)
    (run,) = b.store.list_runs("precode")
    assert run["status"] == "interrupted"
    first = b.store.list_blocks(run["id"])
    assert len(first) == 2  # the two committed blocks, whole; nothing of the one in flight

    resumed = precode_blocks(b, "ray", options=options)
    assert resumed.run_id == run["id"] and resumed.resumed and resumed.status == "done"
    assert resumed.skipped_finished == 2 and resumed.done == local.done - 2
    assert _suggestions(b) == _suggestions(a) and local.suggestions > 0  # identical to in-process
    check = excerpts_coded_once(b, run["id"])
    assert check == {"items": local.done, "done": local.done, "duplicate_suggestions": 0,
                     "blocks": local.done, "duplicate_blocks": 0}
    block_audits = [e for e in b.store.list_audit("run") if e.action == "batch.block"
                    and e.details.get("run_id") == run["id"]]
    assert sorted(e.details["block"] for e in block_audits) == sorted(x["block"] for x in b.store.list_blocks(run["id"]))
    # the store refuses a second record of a block, so a duplicate delivery cannot double it
    with pytest.raises(Exception, match="(?i)unique|constraint|duplicate"):
        b.store.mark_block_done(run["id"], first[0]["block"], 1, 1, 1)
    assert len(b.store.list_blocks(run["id"])) == local.done


def test_ray_embeddings_feed_the_cache_and_the_index(ray_cluster, twins) -> None:
    from assistant.batch.embed import embed_corpus

    _, b = twins
    rep = embed_corpus(b, "ray", options=ActorOptions(block_size=3, actors=2), index=True)
    n = len(b.store.excerpt_ids())
    assert rep.status == "done" and rep.excerpts == n and rep.blocks == -(-n // 3)
    cache = EmbeddingCache(b.index_dir / "embeddings.sqlite")
    texts = {e.text for e in b.store.list_excerpts()}
    assert rep.embedded == len(texts) and cache.count(b.embedder.model_id) == len(texts)
    cache.close()
    assert rep.index is not None and rep.index["added"] == n and rep.index["embedded"] == 0  # all from the cache
    again = embed_corpus(b, "ray", options=ActorOptions(block_size=3, actors=2), index=False)
    assert again.embedded == 0 and again.from_cache == n


def test_blocks_keep_their_numbers_and_bounds_across_resumes() -> None:
    blocks = plan_blocks([5, 3, 9, 1, 7], 2)
    assert [(b.number, b.ids) for b in blocks] == [(0, [1, 3]), (1, [5, 7]), (2, [9])]
    done = [{"block": 0, "first_id": 1, "last_id": 3}, {"block": 1, "first_id": 5, "last_id": 99}]
    todo, skipped = todo_blocks(blocks, done)
    assert [b.number for b in todo] == [1, 2] and skipped == 1  # other bounds: not trusted, done again


def test_executor_ray_without_ray_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from assistant.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ThematicError, match=r"--executor ray needs Ray, which is not installed \(pip install"):
        require_ray()
    build_coding_project(tmp_path).close()
    r = CliRunner().invoke(app, ["embed", "--executor", "ray", "--project", str(tmp_path / "proj")])
    assert r.exit_code == 1, r.output
    lines = [ln for ln in (r.stderr if hasattr(r, "stderr") else r.output).splitlines() if ln.strip()]
    assert len(lines) == 1 and "needs Ray" in lines[0] and "Traceback" not in r.output


def test_unknown_executor_is_refused(tmp_path: Path) -> None:
    from assistant.batch.embed import embed_corpus

    p = build_coding_project(tmp_path)
    with pytest.raises(ThematicError, match="unknown executor 'spark'"):
        embed_corpus(p, "spark")
    p.close()
