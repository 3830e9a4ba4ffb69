"""Settings: the AI engine (provider, model, endpoint, the NAME of the environment variable holding
an API key, never the key), whether a remote provider may be used, the embedding model,
pseudonymisation terms and the analyst's name. Saved to the project's settings.json (audited)."""

from __future__ import annotations

import streamlit as st

from app_pages import _common as ui
from app_pages import render
from assistant.llm.providers import OLLAMA_URL, llm_status
from assistant.settings import Settings

project = ui.open_project()
ui.heading("Settings", "Stored in this project's settings.json. API keys are never stored: name the environment variable that holds one.")


@st.cache_data(ttl=30, show_spinner=False)
def _ollama_models(url: str) -> list[str] | None:
    from assistant.llm.providers import detect_ollama

    return detect_ollama(url, timeout=0.5)


s = project.settings
llm = s.llm
providers = ["none", "ollama", "openai", "anthropic", "llamacpp"]
labels = {"none": "None: offline engine only (nothing leaves this machine)", "ollama": "Ollama (local server)",
          "openai": "OpenAI or an OpenAI-compatible endpoint (vLLM, LM Studio, llama.cpp server, Azure…)",
          "anthropic": "Anthropic (remote)", "llamacpp": "llama.cpp in-process (a GGUF file)"}

left, right = st.columns([3, 2], gap="large")
with left:
    provider = st.selectbox("AI provider", providers, index=providers.index(llm.provider), format_func=labels.get)
    ollama = _ollama_models(llm.base_url if llm.provider == "ollama" and llm.base_url else OLLAMA_URL) \
        if provider == "ollama" else None
    with st.form("settings"):
        st.markdown("**AI model**")
        if provider == "ollama" and ollama:
            options = sorted(set(ollama) | ({llm.model} if llm.model else set()))
            model = st.selectbox("Model (detected in your local Ollama)", options,
                                 index=options.index(llm.model) if llm.model in options else 0)
        else:
            if provider == "ollama":
                render.caption("No local Ollama server answered at " + (llm.base_url or OLLAMA_URL) + "; type a model name.")
            model = st.text_input("Model", llm.model, disabled=provider in ("none",),
                                  placeholder={"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest",
                                               "ollama": "llama3.1:8b"}.get(provider, ""))
        base_url = st.text_input("Endpoint URL (optional)", llm.base_url or "", disabled=provider in ("none", "anthropic", "llamacpp"),
                                 help="For OpenAI-compatible servers and Ollama on another port or machine.")
        model_path = st.text_input("GGUF model file", llm.model_path or "", disabled=provider != "llamacpp")
        key_env = st.text_input("API key environment variable (its NAME, e.g. OPENAI_API_KEY)", llm.api_key_env or "",
                                disabled=provider in ("none", "ollama", "llamacpp"))
        allow_remote = st.checkbox("Allow a remote provider for this project", llm.allow_remote,
                                   help="Required before any text is sent off this machine.")
        st.markdown("**Privacy**")
        pseudo = st.checkbox("Pseudonymise text sent to a remote model", s.privacy.pseudonymise_remote)
        pseudo_attr = st.checkbox("Pseudonymise participants in quote attributions (Participant 1, 2…)",
                                  s.privacy.pseudonymise_attributions)
        terms = st.text_area("Extra names and places to pseudonymise (one per line)", "\n".join(s.privacy.terms), height=100)
        st.markdown("**You and the corpus**")
        analyst = st.text_input("Analyst name (recorded on every decision)", s.analyst)
        attribution = st.text_input("Quote attribution template", s.quotes.attribution,
                                    help="Fields from source attributes, e.g. {participant}, {organisation}, {kind}")
        embedding = st.text_input("Embedding model", s.search.embedding.model,
                                  help="'default' is the bundled all-MiniLM-L6-v2. Changing it re-embeds the corpus on the next search.")
        if st.form_submit_button("Save settings", type="primary"):
            data = s.model_dump()
            data["analyst"] = analyst.strip() or s.analyst
            data["llm"].update(provider=provider, model=model.strip() if model else "", base_url=base_url.strip() or None,
                               api_key_env=key_env.strip() or None, model_path=model_path.strip() or None,
                               allow_remote=allow_remote)
            data["privacy"].update(pseudonymise_remote=pseudo, pseudonymise_attributions=pseudo_attr,
                                   terms=[t.strip() for t in terms.splitlines() if t.strip()])
            data["quotes"]["attribution"] = attribution
            data["search"]["embedding"]["model"] = embedding.strip() or "default"
            try:
                new = Settings.model_validate(data)
            except Exception as exc:  # noqa: BLE001 - pydantic says which field and why
                st.error(render.md(f"Settings not saved: {exc}"))
            else:
                named = True
                if new.analyst != s.analyst:  # audited on its own: who the analyst is changes every record after it
                    named = ui.run(lambda: project.set_analyst(new.analyst), "Saving the analyst name") is not None
                    new = new.model_copy(update={"analyst": project.settings.analyst})
                if named:
                    project.settings = new
                if named and ui.run(lambda: project.save_settings() or True, "Saving settings"):
                    if new.search.embedding.model != s.search.embedding.model:
                        st.cache_resource.clear()  # the embedder is part of the cached project
                    project._ui_settings_mtime = (project.folder / "settings.json").stat().st_mtime  # type: ignore[attr-defined]
                    ui.flash("Settings saved")
                    st.rerun()

with right:
    st.markdown("**Status**")
    status = llm_status(project.settings.llm, probe_ollama=False)
    st.markdown(f"- Engine: **{render.label(ui.engine_label(project))}**\n"
                f"- Runs {'on this machine' if status['local'] else '**remotely**'}"
                + ("" if status["local"] else f" (allowed: {'yes' if status['remote_allowed'] else 'no'})") + "\n"
                + (f"- API key variable {render.label(status['api_key_env'])}: "
                   f"{'set' if status['api_key_set'] else '**not set**'}\n" if status["api_key_env"] else "")
                + f"- Embedding model: {render.label(project.settings.search.embedding.model)}"
                + (f" (this session uses {render.label(project.embedder.model_id)})" if project._embedder is not None else ""))
    st.markdown("**What leaves this machine**")
    if project.settings.llm.is_remote and project.settings.llm.allow_remote:
        st.warning("Excerpt text (pseudonymised" + ("" if project.settings.privacy.pseudonymise_remote else ": OFF")
                   + ") and the codebook, sent to the remote provider when you run AI suggestions, draft theme "
                     "summaries or ask a question. Nothing else: no files, no attributes beyond what is in the text.")
    else:
        st.success("Nothing. Embeddings, search, suggestions and everything else run locally.")

# -- local models: find, try, use (the same steps as `thematic llm setup`) ---------------------------
st.divider()
st.markdown("**Local models**")
render.caption("Looks for Ollama, llama.cpp and other OpenAI-compatible servers on this machine (127.0.0.1) "
               "and GGUF files in the usual folders; recommends one for pre-coding on this machine.")
gguf_dir = st.text_input("Also look in this folder or .gguf file (optional)", key="setup_gguf")
if st.button("Find local models", key="setup_find"):
    from assistant.llm.setup import discover, recommend

    found = ui.run(lambda: discover(gguf_paths=[gguf_dir.strip()] if gguf_dir.strip() else []), "Finding local models")
    if found is not None:
        st.session_state["setup_found"] = (found, recommend(found.models, found.machine))
        st.session_state.pop("setup_trial", None)
if "setup_found" in st.session_state:
    found, rec = st.session_state["setup_found"]
    m = found.machine
    render.caption(f"This machine: {m.ram_gb or '?'} GB RAM, {m.cores} cores. " + (
        f"Recommended: {rec.best.label}: {rec.why}" if rec.best else rec.why))
    if rec.ranked:
        st.dataframe([{"model": r.model.label, "where": r.model.where, "size GB": r.model.size_gb,
                       "parameters (B)": r.model.parameters, "notes": "; ".join(r.reasons)} for r in rec.ranked],
                     hide_index=True, use_container_width=True)
        choices = [r.model for r in rec.ranked]
        chosen = st.selectbox("Model to use", choices, index=choices.index(rec.best) if rec.best in choices else 0,
                              format_func=lambda fm: render.label(fm.label), key="setup_choice")
        try_col, use_col = st.columns(2)
        if try_col.button("Try it on one excerpt", key="setup_try"):
            from assistant.coding.suggest.trial import run_trial
            from assistant.llm.setup import settings_for

            with st.spinner("Asking the model for codes for one excerpt…"):
                st.session_state["setup_trial"] = (chosen.label, ui.run(
                    lambda: run_trial(project, settings_for(chosen, project.settings.llm)), "The trial"))
        tried = st.session_state.get("setup_trial")
        if tried and tried[0] == chosen.label and tried[1] is not None:
            t = tried[1]
            if t.ok:
                render.text(f"{t.seconds:.1f} s, excerpt {t.excerpt_id} ({t.source}): "
                            + (", ".join(t.codes) or "no codes") + "".join(f"\n  evidence: {e}" for e in t.evidence[:3]))
            else:
                render.text(f"The trial failed after {t.seconds:.1f} s: {t.error}", muted=True)
        if use_col.button("Use this model", key="setup_use", type="primary"):
            from assistant.llm.setup import save_choice

            trial = tried[1].to_dict() if tried and tried[0] == chosen.label and tried[1] is not None else None
            if ui.run(lambda: save_choice(project, chosen, trial), "Saving the model") is not None:
                project._ui_settings_mtime = (project.folder / "settings.json").stat().st_mtime  # type: ignore[attr-defined]
                ui.flash(f"Model saved: {chosen.label}")
                st.rerun()
