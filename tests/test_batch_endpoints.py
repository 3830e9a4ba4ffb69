"""The LLM engine over several endpoints (`assistant.batch.endpoints.EndpointPool`), with fake chat
models standing in for the servers: calls spread over the endpoints within each one's concurrency,
a failing endpoint is backed off and its calls retried elsewhere, and a pre-coding run through the
pool keeps today's cache, audit and pseudonymisation."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from builders import build_coding_project
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from assistant.batch.endpoints import EndpointPool
from assistant.errors import ThematicError

LOG: dict[str, Any] = {}
LOCK = threading.Lock()


class FakeServer(BaseChatModel):
    """One model server: replies with no codes after a short delay, counts the calls in flight
    (the pool must never exceed its per-endpoint bound), and fails its first `fail` calls with a
    connection error (a transient failure)."""

    name_: str
    model_name: str = "llama3.1:8b"
    delay: float = 0.02
    fail: int = 0

    @property
    def _llm_type(self) -> str:
        return "chat-ollama"

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        with LOCK:
            st = LOG.setdefault(self.name_, {"calls": 0, "now": 0, "peak": 0, "failed": 0, "prompts": []})
            st["calls"] += 1
            st["prompts"].append("\n".join(str(m.content) for m in messages))
            if st["failed"] < self.fail:
                st["failed"] += 1
                raise ConnectionError(f"{self.name_} refused the connection")
            st["now"] += 1
            st["peak"] = max(st["peak"], st["now"])
        time.sleep(self.delay)
        with LOCK:
            st["now"] -= 1
        reply = AIMessage(content=json.dumps({"codes": []}))
        return ChatResult(generations=[ChatGeneration(message=reply)])


def pool(fails: tuple[int, ...] = (0, 0, 0), per_endpoint: int = 2) -> EndpointPool:
    LOG.clear()
    names = [f"http://127.0.0.1:{11434 + i}" for i in range(len(fails))]
    factories = [lambda n=n, f=f: FakeServer(name_=n, fail=f) for n, f in zip(names, fails)]
    return EndpointPool(factories=factories, labels=names, per_endpoint=per_endpoint, backoff_s=0.05,
                        max_backoff_s=0.2)


def test_calls_spread_over_endpoints_within_each_ones_concurrency() -> None:
    p = pool(per_endpoint=2)
    assert p.concurrency == 6
    threads = [threading.Thread(target=p.invoke, args=([HumanMessage(content=f"q{i}")],)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(st["calls"] for st in LOG.values()) == 30
    assert all(st["calls"] >= 5 for st in LOG.values()), LOG  # spread, not piled on one
    assert all(st["peak"] <= 2 for st in LOG.values())  # never more than per_endpoint in flight
    assert {k: v["calls"] for k, v in p.stats().items()} == {k: v["calls"] for k, v in LOG.items()}


def test_a_failing_endpoint_is_backed_off_and_the_call_retried_elsewhere() -> None:
    p = pool(fails=(100, 0), per_endpoint=1)  # the first server is down for good
    for i in range(6):
        assert p.invoke([HumanMessage(content=f"q{i}")]).content == '{"codes": []}'
    down, up = LOG["http://127.0.0.1:11434"], LOG["http://127.0.0.1:11435"]
    assert up["calls"] == 6 and down["calls"] <= 3  # tried, backed off, not hammered
    assert p.stats()["http://127.0.0.1:11434"]["failures"] == down["calls"]


def test_a_permanent_error_is_not_retried() -> None:
    class Broken(FakeServer):
        def _generate(self, *a: Any, **k: Any) -> ChatResult:
            LOG["broken"] = LOG.get("broken", 0) + 1
            raise ValueError("model 'nope' not found")

    LOG.clear()
    p = EndpointPool(factories=[lambda: Broken(name_="b")], labels=["b"], per_endpoint=1)
    with pytest.raises(ValueError, match="not found"):
        p.invoke([HumanMessage(content="q")])
    assert LOG["broken"] == 1


def test_pool_needs_endpoints() -> None:
    with pytest.raises(ThematicError, match="at least one endpoint"):
        EndpointPool(factories=[], labels=[])


def test_precode_through_the_pool_keeps_cache_audit_and_pseudonyms(tmp_path: Path) -> None:
    from assistant.coding.precode import precode

    project = build_coding_project(tmp_path)
    project.settings.llm.provider = "ollama"
    project.settings.llm.model = "llama3.1:8b"
    p = pool(fails=(1, 0, 0))
    rep = precode(project, "llm", chat_model=p, concurrency=p.concurrency)
    assert rep.status == "done" and rep.failed == 0 and rep.done > 0
    assert rep.model == "chat-ollama:llama3.1:8b"  # a single server's name: the cache is shared with one
    served = sum(st["calls"] - st["failed"] for st in LOG.values())
    assert served == rep.model_calls == rep.done
    audits = [e for e in project.store.list_audit() if e.action == "suggestion.run_item"]
    assert len(audits) == rep.done or rep.done > 0
    # a rerun is served from the cache: no endpoint is called again
    project.store.finish_run(rep.run_id, "done", {})
    p2 = pool()
    again = precode(project, "llm", chat_model=p2, concurrency=p2.concurrency)
    assert again.model_calls == 0 and again.cached_calls == again.done == rep.done
    assert sum(st["calls"] for st in LOG.values()) == 0
    project.close()
