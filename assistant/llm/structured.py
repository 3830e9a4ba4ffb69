"""Calling a chat model with a versioned prompt and getting back either validated data or an
honest failure, never a guess.

- The prompt is rendered from `prompts/<name>.v<N>.md`; for remote models the rendered text is
  pseudonymised first and the reply mapped back.
- JSON is requested by the prompt (plus the provider's JSON mode where `build_chat_model` set it, or
  a schema grammar for models that take one via `.bind(json_schema=...)`) and parsed tolerantly
  (code fences, stray prose) then validated by pydantic. `with_structured_output` is deliberately
  not the default: fake chat models and several OpenAI-compatible servers do not support it.
- A malformed reply is fed back with the error, a bounded number of times, then recorded as failed.
- Rate limits and 5xx errors are retried with exponential back-off (tenacity).
- Replies are cached in the project store by (model, prompt version, rendered input), so a rerun
  costs nothing and reproduces the same output."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from assistant.errors import LLMError
from assistant.llm.prompts import PromptTemplate, load_prompt
from assistant.llm.providers import model_id
from assistant.llm.pseudonymise import Pseudonymiser

T = TypeVar("T", bound=BaseModel)
TRANSIENT_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}
TRANSIENT_NAMES = ("RateLimit", "APIConnection", "APITimeout", "InternalServer", "ServiceUnavailable", "Overloaded")


class CacheStore(Protocol):
    def cache_get(self, key: str) -> str | None: ...
    def cache_put(self, key: str, model: str, prompt_version: str, response: str) -> None: ...


@dataclass
class CallRecord:
    """What one logical call did, for the audit log, the run summary and the cost estimate."""

    prompt: str
    prompt_version: str
    model: str
    cache_key: str = ""
    cached: bool = False
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    token_method: str = "chars/4"
    cost_usd: float = 0.0
    pseudonymised: bool = False
    seconds: float = 0.0
    error: str | None = None
    parse_errors: list[str] = field(default_factory=list)
    response: str | None = None  # the final reply, mapped back from pseudonyms

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- tokens -------------------------------------------------------------------------------------
_ENCODER: Any = None


def _tiktoken() -> Any:
    """tiktoken only when its encoding is already on disk: fetching it needs the network."""
    global _ENCODER
    if _ENCODER is None:
        _ENCODER = False
        try:
            import os
            import tempfile

            import tiktoken

            url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
            cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR") or \
                os.path.join(tempfile.gettempdir(), "data-gym-cache")
            if os.path.exists(os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())):
                _ENCODER = tiktoken.get_encoding("cl100k_base")
        except Exception:  # noqa: BLE001 - not installed or not cached: fall back to chars/4
            _ENCODER = False
    return _ENCODER


def estimate_tokens(text: str) -> tuple[int, str]:
    """(tokens, method): "tiktoken:cl100k_base" when available, else "chars/4"."""
    enc = _tiktoken()
    if enc:
        return len(enc.encode(text)), "tiktoken:cl100k_base"
    return max(1, len(text) // 4), "chars/4"


# -- rendering ----------------------------------------------------------------------------------
def schema_text(output_model: type[BaseModel]) -> str:
    return json.dumps(output_model.model_json_schema(), separators=(",", ":"))


def render_messages(
    prompt: str | PromptTemplate, variables: dict[str, Any], pseudonymiser: Pseudonymiser | None = None,
    output_model: type[BaseModel] | None = None,
) -> tuple[PromptTemplate, list[BaseMessage]]:
    """Exactly what would be sent (used by the real call and by dry runs)."""
    tpl = load_prompt(prompt) if isinstance(prompt, str) else prompt
    variables = dict(variables)
    if output_model is not None and "schema" in tpl.variables and "schema" not in variables:
        variables["schema"] = schema_text(output_model)
    system, user = tpl.render(**variables)
    if pseudonymiser is not None:
        system, user = pseudonymiser.encode(system), pseudonymiser.encode(user)
    return tpl, [SystemMessage(content=system), HumanMessage(content=user)]


def cache_key(model: str, tpl: PromptTemplate, messages: list[BaseMessage], schema: str = "") -> str:
    payload = json.dumps({"model": model, "prompt": tpl.id, "schema": schema,
                          "messages": [[m.type, str(m.content)] for m in messages]}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# -- parsing ------------------------------------------------------------------------------------
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


def extract_json(text: str) -> Any:
    """The JSON value in a reply: whole text, a fenced block, or the outermost {...}."""
    text = text.strip()
    candidates = [text] + _FENCE.findall(text)
    lo, hi = text.find("{"), text.rfind("}")
    if 0 <= lo < hi:
        candidates.append(text[lo : hi + 1])
    last: Exception | None = None
    for c in candidates:
        try:
            return json.loads(c.strip())
        except json.JSONDecodeError as exc:
            last = exc
    raise ValueError(f"no JSON object found ({last})")


def parse_output(text: str, output_model: type[T]) -> T:
    data = extract_json(text)
    return output_model.model_validate(data)


# -- calling ------------------------------------------------------------------------------------
def is_transient(exc: BaseException) -> bool:
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int) and status in TRANSIENT_STATUS:
        return True
    return any(n in type(exc).__name__ for n in TRANSIENT_NAMES) or isinstance(exc, (TimeoutError, ConnectionError))


def _invoke(model: Any, messages: list[BaseMessage], attempts: int = 5, max_wait: float = 30.0) -> AIMessage:
    for attempt in Retrying(stop=stop_after_attempt(attempts), wait=wait_exponential_jitter(initial=1, max=max_wait),
                            retry=retry_if_exception(is_transient), reraise=True):
        with attempt:
            return model.invoke(messages)
    raise LLMError("unreachable")  # pragma: no cover


def _usage(rec: CallRecord, reply: AIMessage, messages: list[BaseMessage], settings: Any) -> None:
    meta = getattr(reply, "usage_metadata", None) or {}
    if meta.get("input_tokens"):
        rec.input_tokens += int(meta["input_tokens"])
        rec.output_tokens += int(meta.get("output_tokens", 0))
        rec.token_method = "provider"
    else:
        n_in, rec.token_method = estimate_tokens("\n".join(str(m.content) for m in messages))
        rec.input_tokens += n_in
        rec.output_tokens += estimate_tokens(str(reply.content))[0]
    if settings is not None:
        llm = getattr(settings, "llm", settings)
        rec.cost_usd = rec.input_tokens / 1000 * llm.usd_per_1k_input + rec.output_tokens / 1000 * llm.usd_per_1k_output


def call_structured(
    chat_model: BaseChatModel, prompt_name: str | PromptTemplate, variables: dict[str, Any], output_model: type[T], *,
    cache_store: CacheStore | None = None, settings: Any = None, pseudonymiser: Pseudonymiser | None = None,
    max_retries: int | None = None, json_schema: dict[str, Any] | None = None,
) -> tuple[T | None, CallRecord]:
    """Validated output, or (None, record with `error`) after `max_retries` re-asks.

    `json_schema` narrows the grammar of a model that takes one beyond `output_model` (say, an
    enum of this call's candidate codes); the reply is still validated by `output_model`. It is
    part of the cache key, and never part of the prompt text, so a fixed prompt prefix stays fixed."""
    t0 = time.perf_counter()
    session = pseudonymiser.session() if pseudonymiser is not None else None
    tpl, messages = render_messages(prompt_name, variables, session, output_model)
    grammar = json_schema or output_model.model_json_schema()
    schema = schema_text(output_model) if json_schema is None else json.dumps(json_schema, separators=(",", ":"))
    mid = model_id(chat_model)
    rec = CallRecord(prompt=tpl.name, prompt_version=tpl.version, model=mid, pseudonymised=session is not None,
                     cache_key=cache_key(mid, tpl, messages, schema))
    decode = session.decode if session is not None else (lambda s: s)
    if cache_store is not None and (hit := cache_store.cache_get(rec.cache_key)) is not None:
        try:
            parsed = parse_output(decode(hit), output_model)
            rec.cached, rec.response, rec.seconds = True, decode(hit), time.perf_counter() - t0
            return parsed, rec
        except (ValueError, ValidationError):
            pass  # a stale or corrupt entry: ask again
    runnable: Any = chat_model.bind(json_schema=grammar) \
        if getattr(chat_model, "supports_json_schema", False) else chat_model
    llm_settings = getattr(settings, "llm", settings)
    retries = max_retries if max_retries is not None else (llm_settings.max_retries if llm_settings else 2)
    convo = list(messages)
    for _ in range(retries + 1):
        reply = _invoke(runnable, convo)
        rec.model_calls += 1
        _usage(rec, reply, convo, settings)
        raw = str(reply.content)
        try:
            parsed = parse_output(decode(raw), output_model)
        except (ValueError, ValidationError) as exc:
            err = _short_error(exc)
            rec.parse_errors.append(err)
            # the error quotes the decoded reply: encode it again before it goes back to the model
            said = session.encode(err) if session is not None else err
            convo += [AIMessage(content=raw), HumanMessage(content=(
                f"Your reply could not be used: {said}\nReply again with ONLY one JSON object that matches "
                "the schema given in the instructions. No prose, no code fences."))]
            continue
        if cache_store is not None:
            cache_store.cache_put(rec.cache_key, mid, tpl.id, raw)
        rec.response, rec.seconds = decode(raw), time.perf_counter() - t0
        return parsed, rec
    rec.error = f"malformed output after {rec.model_calls} attempt(s): {rec.parse_errors[-1]}"
    rec.seconds = time.perf_counter() - t0
    return None, rec


def call_text(
    chat_model: BaseChatModel, prompt_name: str | PromptTemplate, variables: dict[str, Any], *,
    cache_store: CacheStore | None = None, settings: Any = None, pseudonymiser: Pseudonymiser | None = None,
) -> tuple[str | None, CallRecord]:
    """Free text (e.g. a theme summary), with the same caching, back-off and pseudonymisation."""
    t0 = time.perf_counter()
    session = pseudonymiser.session() if pseudonymiser is not None else None
    tpl, messages = render_messages(prompt_name, variables, session)
    mid = model_id(chat_model)
    rec = CallRecord(prompt=tpl.name, prompt_version=tpl.version, model=mid, pseudonymised=session is not None,
                     cache_key=cache_key(mid, tpl, messages))
    decode = session.decode if session is not None else (lambda s: s)
    if cache_store is not None and (hit := cache_store.cache_get(rec.cache_key)) is not None:
        rec.cached, rec.response, rec.seconds = True, decode(hit), time.perf_counter() - t0
        return rec.response, rec
    try:
        reply = _invoke(chat_model, messages)
    except Exception as exc:  # noqa: BLE001 - recorded, the caller decides
        rec.error, rec.seconds = f"{type(exc).__name__}: {exc}", time.perf_counter() - t0
        return None, rec
    rec.model_calls = 1
    _usage(rec, reply, messages, settings)
    raw = str(reply.content)
    if cache_store is not None:
        cache_store.cache_put(rec.cache_key, mid, tpl.id, raw)
    rec.response, rec.seconds = decode(raw), time.perf_counter() - t0
    return rec.response, rec


def _short_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc)[:300]
