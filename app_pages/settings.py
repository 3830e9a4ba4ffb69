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
