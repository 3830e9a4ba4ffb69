"""Building the configured LangChain chat model, and knowing what is local.

Providers: OpenAI-compatible endpoints (`ChatOpenAI(base_url=...)`: OpenAI, Azure, vLLM, llama.cpp
server, LM Studio, Ollama's /v1), Ollama (`ChatOllama`), Anthropic (`ChatAnthropic`), and a GGUF file
run in-process through llama-cpp-python (`LlamaCppChat`, below; langchain_community is being sunset).
Provider packages are imported lazily, with an install hint when missing. A remote provider is
refused unless the project switched it on (`settings.llm.allow_remote`). API keys are read from the
environment variable the settings name; they are never stored or printed.

Thread safety is declared by the provider, not left to the caller: a model that runs inside this
process (llama.cpp) shares one native context that crashes the interpreter when two threads
decode at once, so it says `thread_safe = False`, serialises its own calls behind one lock, and
`parallel_calls()` gives any batch that asks for concurrency one worker for it. HTTP clients are
thread-safe and keep the concurrency the settings ask for."""

from __future__ import annotations

import atexit
import json
import os
import threading
import urllib.request
from importlib.util import find_spec
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr

from assistant.errors import LLMError
from assistant.settings import LLMSettings

OLLAMA_URL = "http://localhost:11434"
# One lock for every in-process model: llama.cpp's native state is not re-entrant, and two GGUF
# models decoding at once on a laptop would only thrash the same cores anyway.
_IN_PROCESS_LOCK = threading.RLock()


def _need(module: str, extra: str) -> None:
    if find_spec(module) is None:
        raise LLMError(f"this provider needs the `{module}` package: pip install 'thematic-assistant[{extra}]'")


def _api_key(settings: LLMSettings, default_env: str) -> str | None:
    env = settings.api_key_env or default_env
    key = os.environ.get(env)
    if not key and settings.is_remote:
        raise LLMError(f"no API key: set the environment variable {env} (the project stores only its name)")
    return key


def check_allowed(settings: LLMSettings) -> None:
    if settings.provider == "none":
        raise LLMError("no language model is configured; run `thematic llm set --provider ... --model ...`")
    if settings.is_remote and not settings.allow_remote:
        raise LLMError(
            f"the {settings.provider} endpoint is remote and remote models are off for this project; "
            "enable them with `thematic llm set --allow-remote` (text is pseudonymised before it leaves)"
        )


def build_chat_model(settings: LLMSettings) -> BaseChatModel:
    """The configured chat model. JSON output is requested natively where the provider supports it
    (Ollama `format="json"`, OpenAI `response_format=json_object` when structured_method allows)."""
    check_allowed(settings)
    p = settings.provider
    if not settings.model and p != "llamacpp":
        raise LLMError(f"provider {p} needs a model name (`thematic llm set --model ...`)")
    if p == "ollama":
        _need("langchain_ollama", "ollama")
        from langchain_ollama import ChatOllama

        return ChatOllama(model=settings.model, base_url=settings.base_url or OLLAMA_URL, format="json",
                          temperature=settings.temperature, num_predict=settings.max_output_tokens)
    if p == "openai":
        _need("langchain_openai", "openai")
        from langchain_openai import ChatOpenAI

        kwargs: dict[str, Any] = {}
        method = settings.structured_method
        if method == "json_mode" or (method == "auto" and settings.base_url is None):
            kwargs["model_kwargs"] = {"response_format": {"type": "json_object"}}
        return ChatOpenAI(model=settings.model, base_url=settings.base_url,
                          api_key=_api_key(settings, "OPENAI_API_KEY") or "not-needed",
                          temperature=settings.temperature, max_tokens=settings.max_output_tokens,
                          timeout=settings.timeout_s, max_retries=0, **kwargs)
    if p == "anthropic":
        _need("langchain_anthropic", "anthropic")
        from langchain_anthropic import ChatAnthropic

        return ChatAnthropic(model=settings.model, api_key=_api_key(settings, "ANTHROPIC_API_KEY"),
                             temperature=settings.temperature, max_tokens=settings.max_output_tokens,
                             timeout=settings.timeout_s, max_retries=0)
    if p == "llamacpp":
        path = settings.model_path or ""
        if not path or not Path(path).exists():
            raise LLMError(f"provider llamacpp needs model_path pointing at a .gguf file (got {path!r})")
        return LlamaCppChat(model_path=path, temperature=settings.temperature,
                            max_tokens=settings.max_output_tokens)
    raise LLMError(f"unknown provider {p!r}")


def model_id(chat_model: BaseChatModel) -> str:
    """A stable name for the audit log and cache key."""
    for attr in ("model_name", "model", "model_path"):
        v = getattr(chat_model, attr, None)
        if isinstance(v, str) and v:
            return f"{chat_model._llm_type}:{Path(v).name if attr == 'model_path' else v}"
    return chat_model._llm_type


def is_thread_safe(chat_model: Any) -> bool:
    """Whether several threads may call this model at once. A provider says so with a
    `thread_safe` class attribute; one that does not say is an HTTP client, which is. Bindings
    (`model.bind(...)`) are looked through to the model they wrap."""
    inner = chat_model
    for _ in range(8):  # RunnableBinding chains are short; never loop forever on odd objects
        bound = getattr(inner, "bound", None)
        if bound is None:
            break
        inner = bound
    return bool(getattr(inner, "thread_safe", True))


def parallel_calls(chat_model: Any, requested: int | None) -> int:
    """How many calls to run at once when a batch asks for `requested`: one for a model that is
    not thread-safe, however concurrency is set (a None model means no model calls: as asked)."""
    n = max(1, int(requested or 1))
    return n if chat_model is None or is_thread_safe(chat_model) else 1


class LlamaCppChat(BaseChatModel):
    """A minimal in-process chat model over llama-cpp-python. With `json_schema` (passed per call via
    `.bind(json_schema=...)` by `call_structured`) decoding is grammar-constrained to the schema.

    Not thread-safe (see the module docstring): every load and every completion holds
    `_IN_PROCESS_LOCK`, so even a caller that ignores `parallel_calls` (a web page shared by two
    browser tabs) gets one call at a time instead of a segfault."""

    thread_safe: ClassVar[bool] = False

    model_path: str
    n_ctx: int = 8192  # room for a codebook with definitions and examples as the fixed prefix
    n_threads: int = Field(default_factory=lambda: default_threads())
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int = 0
    supports_json_schema: bool = True
    max_items: int = 3  # longest list a reply may hold (settings.suggest.top_k codes)
    # llama.cpp keeps the evaluated tokens of the last prompt and reuses the longest common prefix
    # with the next one: with the codebook and instructions first and the excerpt last, only the
    # excerpt is evaluated per call. False clears the cache before each call (the naive cost, for
    # benchmarks).
    reuse_prefix: bool = True
    _llm: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

    def _client(self) -> Any:
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise LLMError("provider llamacpp needs llama-cpp-python: pip install 'thematic-assistant[llamacpp]' "
                               "(it builds from source; see the README for CPU flags)") from None
            self._llm = Llama(model_path=self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                              seed=self.seed, verbose=False)
            # freed while the interpreter is whole: left to Llama.__del__ at shutdown, it prints a
            # traceback ("'NoneType' object is not callable") after every CLI command that used it
            atexit.register(self.close)
        return self._llm

    def close(self) -> None:
        """Free the model (it loads again on the next call)."""
        with _IN_PROCESS_LOCK:
            llm, self._llm = self._llm, None
            if llm is not None:
                llm.close()

    def parameter_count(self) -> int | None:
        """The model's number of weights: the LLM engine picks its reply layout by model size
        (`assisted.resolve_reply`). Read from the file's vocabulary-only load (a fraction of a
        second, no weights in memory), so a dry run or a fully cached rerun never loads the model;
        the loaded model answers when there is one. None when it cannot be read."""
        with _IN_PROCESS_LOCK:
            try:
                if self._llm is not None:
                    return int(self._llm._model.n_params())
                import llama_cpp
                from llama_cpp._internals import LlamaModel

                params = llama_cpp.llama_model_default_params()
                params.vocab_only = True
                model = LlamaModel(path_model=self.model_path, params=params, verbose=False)
                try:
                    return int(model.n_params())
                finally:
                    model.close()
            except (ImportError, AttributeError, ValueError, OSError):
                return None

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        roles = {"system": "system", "human": "user", "ai": "assistant"}
        msgs = [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]
        schema = kwargs.get("json_schema")
        fmt = {"type": "json_object", "schema": bounded_schema(schema, self.max_tokens, self.max_items)} if schema else None
        with _IN_PROCESS_LOCK:
            client = self._client()
            if not self.reuse_prefix:
                client.reset()
            out = client.create_chat_completion(
                messages=msgs, temperature=self.temperature, max_tokens=self.max_tokens, stop=stop,
                response_format=fmt, seed=self.seed,
            )
        text = out["choices"][0]["message"]["content"] or ""
        usage = out.get("usage") or {}
        msg = AIMessage(content=text, usage_metadata={
            "input_tokens": usage.get("prompt_tokens", 0), "output_tokens": usage.get("completion_tokens", 0),
            "total_tokens": usage.get("total_tokens", 0)})
        return ChatResult(generations=[ChatGeneration(message=msg)])


def default_threads() -> int:
    """Threads for in-process decoding: half the logical CPUs this process may use (about the physical
    cores), at most 8. llama.cpp's threads spin at every barrier, so more threads than free cores does
    not just fail to help, it stalls: on two cores with the workspace or a second job running, two
    decoding threads were many times slower than one."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus // 2))


def bounded_schema(schema: Any, max_tokens: int, max_items: int = 3) -> Any:
    """The schema with every string and list given an upper bound. A grammar keeps a small model's
    output *well-formed*, but a model that rambles inside one string still hits `max_tokens` and
    returns unterminated JSON; bounding lengths makes every allowed output fit the budget."""
    # at most about 21 string slots (3 codes x 3 fields, 3 new codes x 4); at >= 1.5 chars per
    # token even a worst-case output stays inside the token budget
    max_len = max(24, max_tokens // 10)
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            if out.get("type") == "string" and "maxLength" not in out and "enum" not in out:
                out["maxLength"] = max_len
            if out.get("type") == "array" and "maxItems" not in out:
                out["maxItems"] = max_items
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node
    return walk(schema)


def detect_ollama(base_url: str = OLLAMA_URL, timeout: float = 0.5) -> list[str] | None:
    """Models pulled into a local Ollama server, or None when no server answers."""
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/api/tags", timeout=timeout) as resp:  # noqa: S310
            data = json.loads(resp.read().decode("utf-8"))
    except Exception:  # noqa: BLE001 - absent, refused, timed out: all mean "not running"
        return None
    return [m.get("name", "") for m in data.get("models", [])]


def llm_status(settings: LLMSettings, probe_ollama: bool = True) -> dict[str, Any]:
    """What `thematic llm status` and the UI show. Names the key's variable and whether it is set;
    never the key."""
    env = settings.api_key_env or {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}.get(settings.provider)
    return {
        "provider": settings.provider,
        "model": settings.model or None,
        "base_url": settings.base_url,
        "model_path": settings.model_path,
        "local": not settings.is_remote,
        "remote_allowed": settings.allow_remote,
        "api_key_env": env,
        "api_key_set": bool(env and os.environ.get(env)),
        "ollama_models": detect_ollama(timeout=0.5) if probe_ollama else None,
        "llama_cpp_installed": find_spec("llama_cpp") is not None,
    }
