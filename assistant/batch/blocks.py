"""Blocks of excerpt ids, the unit of batch work: one Ray task's input, one store transaction's
output, one row of `batch_blocks` once written.

Blocks are cut from the run's whole selection in id order, never from what is left to do, so a
block has the same number and bounds on every resume of a run; a block recorded as finished with
other bounds (the corpus changed in between) is not trusted and is done again."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass
class Block:
    number: int
    ids: list[int]

    @property
    def first_id(self) -> int:
        return self.ids[0]

    @property
    def last_id(self) -> int:
        return self.ids[-1]


def plan_blocks(ids: list[int], block_size: int) -> list[Block]:
    if block_size < 1:
        raise ValueError("block size must be at least 1")
    ids = sorted(ids)
    return [Block(k, ids[i : i + block_size]) for k, i in enumerate(range(0, len(ids), block_size))]


def todo_blocks(blocks: list[Block], finished: list[dict[str, Any]]) -> tuple[list[Block], int]:
    """(blocks still to do, blocks skipped as finished with the same bounds)."""
    done = {(int(r["block"]), int(r["first_id"]), int(r["last_id"])) for r in finished}
    todo = [b for b in blocks if (b.number, b.first_id, b.last_id) not in done]
    return todo, len(blocks) - len(todo)


def run_key(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]


def new_run_id(kind: str, key: str) -> str:
    return f"{kind}-{key[:8]}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}"


@dataclass
class BlockTimes:
    """Per-block seconds, for the projection of wall time on N workers."""

    seconds: list[float] = field(default_factory=list)
    items: list[int] = field(default_factory=list)

    def add(self, seconds: float, items: int) -> None:
        self.seconds.append(float(seconds))
        self.items.append(int(items))

    @property
    def per_item(self) -> float:
        return sum(self.seconds) / max(1, sum(self.items))
