"""Query vectors without torch: the embedding model run by ONNX Runtime.

Why: a hybrid `thematic search` needs one vector, for its query, and importing torch,
transformers and sentence-transformers costs a fresh process many seconds, far more than the
search itself. `onnxruntime` and `tokenizers` import in a fraction of a second. So the model is
exported to ONNX once, from the very sentence-transformers model that embeds the excerpts (torch is
loaded then anyway), checked against it on probe texts, and cached per user under a fingerprint of
the model's files; from then on a query needs only ONNX Runtime and the tokenizer.

Only what can be reproduced exactly qualifies: a local sentence-transformers folder with the plain
Transformer + mean Pooling (+ Normalize) stack and a `tokenizer.json`, and an export whose vectors
match `SentenceTransformer.encode` (cosine >= `MIN_COSINE` on every probe text). Anything else
(another stack, a missing package, an export that did not match) leaves the fast path off, and the
caller embeds the query with sentence-transformers as before. The excerpt vectors of an index are
never produced here: only single queries.

Cache layout, under `cache_root()`: one folder per fingerprint holding `model.onnx` (the graph as
ONNX Runtime optimised it, portable across CPUs), `weights.bin` (its initializers as external data:
ONNX Runtime maps them instead of parsing a 90 MB protobuf, which cuts opening the session from
~0.4 s to ~0.1 s of CPU) and `encoder.json` (what was exported and how it compared). The folder is
written whole and swapped into place (`index.storage.save_dir_atomic`), so a reader never sees half
an export. The fingerprint covers the model folder, the size and mtime of its weights, config and
tokenizer files, ONNX Runtime's version and `FORMAT`: a changed or reinstalled model gets a fresh
export, never a stale graph.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import logging
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from index.storage import load_dir_path, save_dir_atomic, write_json_atomic

log = logging.getLogger(__name__)

#: Bump when the exported graph or the cache layout changes: older exports are then ignored.
FORMAT = 1
#: Every probe text must give at least this cosine against sentence-transformers' own vector.
MIN_COSINE = 0.9999
MODEL_FILE = "model.onnx"
WEIGHTS_FILE = "weights.bin"  # the initializers, beside the graph: ONNX Runtime maps them, no parse
META_FILE = "encoder.json"
#: What the model folder's identity is made of (those present): weights, configs, tokenizer.
FINGERPRINTED = ("model.safetensors", "pytorch_model.bin", "config.json", "tokenizer.json",
                 "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "modules.json",
                 "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json")
#: Checked at export: short and long, cased, accented, non-Latin, emoji, markup-like, empty.
PROBE_TEXTS = (
    "damp housing and emergency admissions",
    "",
    " ",
    "Interviewer: And then what happened? P3: [laughs] Well, the GP said no.",
    "Café, naïve, résumé, Straße: “quoted” — dashes…",
    "日本語のテキストと中文的句子",
    "Привет, как дела?",
    "EMOJI 🏠🏥 and numbers 1234567890",
    "The damp got into everything. " * 80,  # past the token limit: truncation must agree
)


class QueryEncoderError(Exception):
    """The fast path cannot serve: the caller falls back to sentence-transformers."""


@dataclass(frozen=True)
class EncoderSpec:
    """A model folder the fast path can reproduce, and where its export lives."""

    folder: Path
    lower_case: bool  # sentence-transformers' own `do_lower_case` (before the tokenizer)
    fingerprint: str

    @property
    def cache_dir(self) -> Path:
        return cache_root() / self.fingerprint


def cache_root() -> Path:
    """Per-user cache beside other model caches: `$THEMATIC_MODEL_CACHE`, else
    `$XDG_CACHE_HOME/thematic/query-encoders`, else `~/.cache/thematic/query-encoders`."""
    if os.environ.get("THEMATIC_MODEL_CACHE"):
        return Path(os.environ["THEMATIC_MODEL_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "thematic" / "query-encoders"


def available() -> bool:
    """Whether the packages for running an export are installed (cheap: nothing is imported)."""
    return find_spec("onnxruntime") is not None and find_spec("tokenizers") is not None


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def spec_for(model_path: str | Path, runtime_version: str) -> EncoderSpec | None:
    """The spec of a local sentence-transformers folder whose stack the fast path reproduces
    (Transformer + mean Pooling, optionally Normalize), or None. Reads a few small files only."""
    folder = Path(model_path)
    try:
        if not (folder / "tokenizer.json").is_file():
            return None
        modules = _read_json(folder / "modules.json")
        kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        if modules[0].get("path", "") not in ("", "."):
            return None
        pooling = _read_json(folder / modules[1].get("path", "1_Pooling") / "config.json")
        modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
        if modes != ["pooling_mode_mean_tokens"]:
            return None
        st_config = folder / "sentence_bert_config.json"
        lower = bool(_read_json(st_config).get("do_lower_case", False)) if st_config.is_file() else False
        h = hashlib.sha256(f"format={FORMAT};ort={runtime_version};folder={folder.resolve()}".encode())
        for name in FINGERPRINTED:
            p = folder / name
            if p.is_file():
                st = p.stat()
                h.update(f";{name}:{st.st_size}:{st.st_mtime_ns}".encode())
        return EncoderSpec(folder, lower, h.hexdigest()[:32])
    except (OSError, ValueError, TypeError, AttributeError, IndexError):
        return None


def _session_options(ort: Any, threads: int) -> Any:
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, threads)
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # errors only: ORT's warnings are not the analyst's business
    # the graph on disk is already optimised (at export): loading it need not redo the work
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return so


class OnnxQueryEncoder:
    """One query in, one unit vector out, as `SentenceTransformer.encode(..., normalize=True)`
    gives it: the tokenizer from `tokenizer.json` (truncated at the model's max_seq_length, no
    padding), the exported transformer, mean pooling over the attention mask and L2 norm (both
    inside the graph)."""

    def __init__(self, session: Any, tokenizer: Any, inputs: Sequence[str], lower_case: bool, dim: int):
        self._session, self._tokenizer = session, tokenizer
        self._inputs, self._lower, self.dim = tuple(inputs), lower_case, dim

    @classmethod
    def open(cls, model_path: str | Path, threads: int = 1) -> OnnxQueryEncoder | None:
        """The cached export for this model, or None when there is none (yet) or the model is not
        one the fast path reproduces. Raises QueryEncoderError when an export exists but cannot
        be used (damaged, refused at export, or a package is missing)."""
        if not available():
            return None
        import onnxruntime as ort

        spec = spec_for(model_path, ort.__version__)
        if spec is None:
            return None
        try:
            folder = load_dir_path(spec.cache_dir)
        except FileNotFoundError:
            return None
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            return None
        try:
            meta = _read_json(meta_path)
        except (OSError, ValueError) as exc:
            raise QueryEncoderError(f"{meta_path} unreadable: {exc}") from None
        if not meta.get("usable"):  # the export did not match the model: a known "no", not an error
            log.info("no fast query encoder for %s: %s", spec.folder, meta.get("reason", "export refused"))
            return None
        return cls._load(spec, folder, ort, threads, meta)

    @classmethod
    def _load(cls, spec: EncoderSpec, folder: Path, ort: Any, threads: int, meta: dict[str, Any]
              ) -> OnnxQueryEncoder:
        from tokenizers import Tokenizer

        try:
            session = ort.InferenceSession(str(folder / MODEL_FILE), _session_options(ort, threads),
                                           providers=["CPUExecutionProvider"])
            tokenizer = Tokenizer.from_file(str(spec.folder / "tokenizer.json"))
            tokenizer.no_padding()
            tokenizer.enable_truncation(int(meta["max_seq_length"]))
            return cls(session, tokenizer, meta["inputs"], spec.lower_case, int(meta["dim"]))
        except QueryEncoderError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged cache is a fallback, never a failed search
            raise QueryEncoderError(f"cached export in {folder} unreadable: {exc}") from None

    def encode(self, text: str) -> np.ndarray:
        """The query's unit vector, float32 (dim,)."""
        enc = self._tokenizer.encode(text.lower() if self._lower else text)
        ids = np.asarray([enc.ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.asarray([enc.type_ids], dtype=np.int64)
        vec = np.asarray(self._session.run(None, feeds)[0][0], dtype=np.float32)
        if vec.shape != (self.dim,) or not np.isfinite(vec).all():
            raise QueryEncoderError(f"the export gave a vector of shape {vec.shape}")
        return vec


# -- export (needs torch, the loaded model, and the `onnx` package) --------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export(model: Any, model_path: str | Path, threads: int = 1) -> Path | None:
    """Export the loaded SentenceTransformer `model` (loaded from `model_path`) for fast queries,
    check it against the model on `PROBE_TEXTS`, and cache it; returns the cache folder, or None
    when the model is not one the fast path reproduces or a package is missing. An export that
    does not match is recorded as refused (so it is not retried on every query). Raises on I/O
    errors and on failures of the exporter; the caller logs them."""
    if not available() or find_spec("onnx") is None:
        return None
    import onnxruntime as ort
    import torch

    spec = spec_for(model_path, ort.__version__)
    if spec is None:
        return None
    out = spec.cache_dir
    transformer = model[0]
    hf = transformer.auto_model
    max_len = int(getattr(model, "max_seq_length", None) or transformer.max_seq_length)
    typed = "token_type_ids" in inspect.signature(hf.forward).parameters
    inputs = ["input_ids", "attention_mask"] + (["token_type_ids"] if typed else [])

    class Pooled(torch.nn.Module):
        """The transformer, then mean pooling over the attention mask and L2 normalisation,
        as sentence-transformers' Pooling(mean) + Normalize do."""

        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                kwargs["token_type_ids"] = token_type_ids
            hidden = self.inner(**kwargs).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    # a padded batch of two, so the traced graph keeps the attention mask's padding path
    sample = model.tokenizer(["a longer sample text", "short"], padding=True, return_tensors="pt")
    example = (sample["input_ids"], sample["attention_mask"])
    if typed:
        example += (sample.get("token_type_ids", torch.zeros_like(sample["input_ids"])),)
    axes = {name: {0: "batch", 1: "tokens"} for name in inputs} | {"sentence_embedding": {0: "batch"}}
    buf = io.BytesIO()
    t0 = time.perf_counter()
    was_training = hf.training
    hf.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(Pooled(hf), example, buf, input_names=inputs, output_names=["sentence_embedding"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
    finally:
        hf.train(was_training)

    dim = int((getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension)())
    meta: dict[str, Any] = {"format": FORMAT, "model_folder": str(spec.folder), "inputs": inputs,
                            "max_seq_length": max_len, "dim": dim, "onnxruntime": ort.__version__,
                            "torch": torch.__version__}
    weights = next((spec.folder / n for n in FINGERPRINTED[:2] if (spec.folder / n).is_file()), None)
    if weights is not None:
        meta["weights_sha256"] = _sha256(weights)

    def write_into(tmp: Path) -> None:
        # ONNX Runtime writes the graph it optimised, with the weights as external data beside it
        so = _session_options(ort, threads)
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # not ALL: CPU-specific
        so.optimized_model_filepath = str(tmp / MODEL_FILE)
        so.add_session_config_entry("session.optimized_model_external_initializers_file_name", WEIGHTS_FILE)
        so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
        ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])
        try:  # checked here, before the folder is published, so no query sees an unchecked export
            encoder = OnnxQueryEncoder._load(spec, tmp, ort, threads, meta)
            mine = np.stack([encoder.encode(t) for t in PROBE_TEXTS])
            del encoder  # release the mapped weights before the folder moves
            theirs = np.asarray(model.encode(list(PROBE_TEXTS), convert_to_numpy=True, normalize_embeddings=True,
                                             show_progress_bar=False), dtype=np.float32)
            meta["min_probe_cosine"] = float((mine * theirs).sum(axis=1).min())
        except QueryEncoderError as exc:
            meta["min_probe_cosine"], meta["reason"] = None, str(exc)
        meta["usable"] = (meta["min_probe_cosine"] or 0.0) >= MIN_COSINE
        if not meta["usable"]:  # keep only the verdict, so the export is not retried on every query
            meta.setdefault("reason", f"probe cosine {meta['min_probe_cosine']:.6f} < {MIN_COSINE}")
            (tmp / MODEL_FILE).unlink(missing_ok=True)
            (tmp / WEIGHTS_FILE).unlink(missing_ok=True)
        meta["export_seconds"] = round(time.perf_counter() - t0, 2)
        write_json_atomic(tmp / META_FILE, meta)

    from filelock import FileLock, Timeout

    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(out) + ".lock", timeout=0):  # another process exporting: leave it to it
            save_dir_atomic(out, write_into)
    except Timeout:
        return None
    return out
