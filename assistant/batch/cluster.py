"""Connecting to Ray, imported lazily: one machine needs no Ray, and asking for `--executor ray`
without it installed is one clear line, not an ImportError traceback.

`connect()` joins the cluster at `address` ("auto" = the one `ray start --head` started on this
machine, or `ray://host:10001` for a remote head) or, with no address, starts a small private
cluster in this process's session (what the tests and a laptop use). The object store is kept
small on purpose: blocks stream through it, they are not all held at once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from assistant.errors import ThematicError

EXECUTORS = ("local", "ray")
INSTALL_HINT = "pip install 'ray[data]'"


@dataclass
class ActorOptions:
    """How the work is spread: rows per block (one store transaction each), texts per model call,
    actors (one model each), and the CPUs/GPUs each actor reserves."""

    block_size: int = 1000
    batch_size: int = 64
    actors: int = 1
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0


def check_executor(executor: str) -> None:
    """Before anything is written: a bad executor, or Ray asked for and missing, is one line."""
    if executor not in EXECUTORS:
        raise ThematicError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if executor == "ray":
        require_ray()


def require_ray() -> Any:
    """The `ray` module, or ThematicError in one line saying how to get it."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ThematicError(f"--executor ray needs Ray, which is not installed ({INSTALL_HINT}); "
                            "without it, leave --executor at its default (this machine)") from exc
    return ray


def connect(address: str | None = None, num_cpus: int | None = None,
            object_store_mb: int | None = None) -> Any:
    """Join (or start) a cluster once per process; returns the `ray` module."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "configure_logging": False}
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    if address:
        kwargs["address"] = address
    else:  # "local": a new private cluster, never one another process started on this machine
        kwargs["address"] = "local"
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
        kwargs["object_store_memory"] = (object_store_mb or 256) * 1024 * 1024
    for attempt in range(3):  # a loaded machine can miss Ray's fixed 30 s raylet start-up wait
        try:
            ray.init(**kwargs)
            break
        except Exception as exc:
            ray.shutdown()
            if "timed out during startup" in str(exc) and attempt < 2 and not address:
                continue
            where = address or "a local cluster"
            raise ThematicError(f"cannot connect to Ray at {where} ({exc}); start one with `ray start --head`") from exc
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    try:
        ctx.print_on_execution_start = False
    except AttributeError:  # older Ray Data
        pass
    return ray


def worker_name() -> str:
    """Which worker did a block (node and process), for the block's record."""
    try:
        import ray

        node = ray.get_runtime_context().get_node_id()[:8]
    except Exception:  # noqa: BLE001 - only a label
        node = "local"
    return f"{node}:{os.getpid()}"
