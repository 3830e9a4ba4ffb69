"""The LLM engine over several model servers (Ollama, vLLM, llama.cpp server, any OpenAI-compatible
endpoint): one chat model that spreads its calls over a list of endpoints.

`EndpointPool` is a LangChain chat model, so the LLM engine uses it exactly as it uses one server:
the prompt rendering, pseudonymisation, response cache (keyed by the model's name, which the pool
shares with a single endpoint of the same model, so a cached reply is found whichever server made
it), validation and audit all stay in `assistant.llm` and `coding.suggest.llm`, on the driver.
The pool only decides where each call goes:
- at most `per_endpoint` calls in flight on each endpoint (the server's own batch size);
- the endpoint with the most free slots, skipping one in back-off;
- a transient failure (connection refused, timeout, 429, 5xx: `llm.structured.is_transient`) puts
  that endpoint in back-off (exponential, with jitter) and the call is retried, by tenacity, on
  another endpoint; a permanent error is raised at once.
With `via_ray`, each endpoint's calls are made from a Ray actor (`max_concurrency=per_endpoint`),
for servers reachable only from the cluster's nodes; the messages go out already pseudonymised."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from assistant.errors import ThematicError
from assistant.llm.structured import is_transient

ChatFactory = Callable[[], BaseChatModel]


def endpoint_factories(settings: Any, base_urls: Sequence[str]) -> list[ChatFactory]:
    """One factory per endpoint: the project's LLM settings with each endpoint's base URL (the
    same provider and model everywhere, so replies cache and audit as one model)."""
    from functools import partial

    from assistant.llm.providers import build_chat_model

    if not base_urls:
        raise ThematicError("name at least one endpoint (--endpoint URL)")
    return [partial(build_chat_model, settings.model_copy(update={"base_url": url})) for url in base_urls]


class _EndpointActor:
    """Made into a Ray actor by `EndpointPool` (kept plain so importing needs no Ray)."""

    def __init__(self, factory: ChatFactory):
        self.model = factory()

    def invoke(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        return self.model.invoke(messages, **kwargs)


class EndpointPool(BaseChatModel):
    """See the module docstring. `factories[i]` builds endpoint i's chat model; `labels` name them
    in errors and counts (base URLs, never keys)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    factories: list[Any]
    labels: list[str]
    per_endpoint: int = 2
    attempts: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    via_ray: bool = False
    model_name: str = ""
    pool_llm_type: str = "endpoint-pool"

    _models: list[Any] = PrivateAttr(default_factory=list)
    _inflight: list[int] = PrivateAttr(default_factory=list)
    _peak: list[int] = PrivateAttr(default_factory=list)
    _calls: list[int] = PrivateAttr(default_factory=list)
    _failures: list[int] = PrivateAttr(default_factory=list)
    _until: list[float] = PrivateAttr(default_factory=list)
    _streak: list[int] = PrivateAttr(default_factory=list)  # failures since the last success
    _cond: Any = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        n = len(self.factories)
        if n == 0 or len(self.labels) != n:
            raise ThematicError("an endpoint pool needs one label per endpoint, and at least one endpoint")
        if self.per_endpoint < 1:
            raise ThematicError("per-endpoint concurrency must be at least 1")
        self._inflight, self._peak, self._calls, self._failures = [0] * n, [0] * n, [0] * n, [0] * n
        self._until, self._streak = [0.0] * n, [0] * n
        self._cond = threading.Condition()
        if self.via_ray:
            from assistant.batch.cluster import require_ray

            ray = require_ray()
            actor = ray.remote(_EndpointActor).options(max_concurrency=self.per_endpoint)
            self._models = [actor.remote(f) for f in self.factories]
        else:
            self._models = [f() for f in self.factories]
        if not self.model_name:  # the single endpoint's own name, so cache keys are shared
            first = self._models[0]
            if not self.via_ray:
                self.model_name = str(getattr(first, "model_name", None) or getattr(first, "model", "") or "")
                self.pool_llm_type = getattr(first, "_llm_type", self.pool_llm_type)

    @property
    def _llm_type(self) -> str:
        return self.pool_llm_type

    @property
    def concurrency(self) -> int:
        """Calls the pool can have in flight at once: what a batch should run in parallel."""
        return self.per_endpoint * len(self.factories)

    def stats(self) -> dict[str, dict[str, int]]:
        return {label: {"calls": self._calls[i], "failures": self._failures[i], "peak_in_flight": self._peak[i]}
                for i, label in enumerate(self.labels)}

    # -- choosing an endpoint ------------------------------------------------------------------------
    def _acquire(self) -> int:
        with self._cond:
            while True:
                now = time.monotonic()
                free = [i for i in range(len(self._models))
                        if self._inflight[i] < self.per_endpoint and self._until[i] <= now]
                if free:
                    # a healthy endpoint first; one that failed lately only when nothing else is free
                    i = min(free, key=lambda k: (self._streak[k] > 0, self._inflight[k], self._calls[k]))
                    self._inflight[i] += 1
                    self._peak[i] = max(self._peak[i], self._inflight[i])
                    self._calls[i] += 1
                    return i
                waits = [u - now for u in self._until if u > now]
                self._cond.wait(timeout=min(waits) if waits else 1.0)

    def _release(self, i: int, failed: bool) -> None:
        with self._cond:
            self._inflight[i] -= 1
            if failed:
                self._failures[i] += 1
                self._streak[i] += 1
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** min(self._streak[i] - 1, 10))
                self._until[i] = time.monotonic() + delay * (0.5 + random.random() / 2)
            else:
                self._streak[i] = 0
            self._cond.notify_all()

    def _call(self, i: int, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        model = self._models[i]
        if self.via_ray:
            import ray

            return ray.get(model.invoke.remote(messages, kwargs))
        return model.invoke(messages, **kwargs)

    # -- the chat model interface --------------------------------------------------------------------
    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        if stop:
            kwargs["stop"] = stop
        for attempt in Retrying(stop=stop_after_attempt(self.attempts),
                                wait=wait_exponential_jitter(multiplier=self.backoff_s / 4, max=self.max_backoff_s),
                                retry=retry_if_exception(is_transient), reraise=True):
            with attempt:
                i = self._acquire()
                failed = False
                try:
                    reply = self._call(i, list(messages), kwargs)
                except Exception as exc:
                    failed = is_transient(exc)
                    raise
                finally:
                    self._release(i, failed)
                return ChatResult(generations=[ChatGeneration(message=reply)])
        raise ThematicError("unreachable")  # pragma: no cover


__all__ = ["EndpointPool", "endpoint_factories"]
