"""`thematic embed` and the batch side of `thematic precode` (`--executor ray`): a thin face over
`assistant.batch`. The default executor is this machine and needs no Ray."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from assistant.cli.common import JsonOpt, ProjectOpt, console, open_project, print_json

ExecutorOpt = Annotated[str, typer.Option("--executor", help="local (this machine, the default; no Ray needed) or ray.")]
AddressOpt = Annotated[str | None, typer.Option("--address", help="Ray cluster to join (with --executor ray): 'auto' for "
                                                "the one `ray start --head` started here, or ray://HOST:10001. "
                                                "Default: a private Ray on this machine.")]
BlockOpt = Annotated[int, typer.Option("--block-size", min=1, help="Excerpts per block (one store transaction each).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Texts per model call.")]
ActorsOpt = Annotated[int, typer.Option("--actors", min=1, help="Ray actors (one model each).")]
CpuOpt = Annotated[float, typer.Option("--cpus-per-actor", min=0.0, help="CPUs each actor reserves (and torch threads).")]
GpuOpt = Annotated[float, typer.Option("--gpus-per-actor", min=0.0, help="GPUs each actor reserves (0: CPU only).")]


def _options(block_size: int, batch_size: int, actors: int, cpus: float, gpus: float) -> Any:
    from assistant.batch.cluster import ActorOptions

    return ActorOptions(block_size=block_size, batch_size=batch_size, actors=actors, cpus_per_actor=cpus,
                        gpus_per_actor=gpus)


def embed_cmd(
    executor: ExecutorOpt = "local", address: AddressOpt = None, block_size: BlockOpt = 1000,
    batch_size: BatchOpt = 64, actors: ActorsOpt = 1, cpus_per_actor: CpuOpt = 1.0, gpus_per_actor: GpuOpt = 0.0,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Resume this run.")] = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="Only fill the embedding cache.")] = False,
    project: ProjectOpt = None, json_out: JsonOpt = False,
) -> None:
    """Embed every excerpt into the embedding cache in blocks (resumable), then update the search
    index from it. With --executor ray the blocks are embedded on a Ray cluster."""
    from assistant.batch.embed import embed_corpus

    with open_project(project) as p:
        rep = embed_corpus(p, executor, address=address, run_id=run_id, index=not no_index,
                           options=_options(block_size, batch_size, actors, cpus_per_actor, gpus_per_actor))
    if json_out:
        return print_json(asdict(rep))
    console.print(f"run {rep.run_id} ({rep.executor}): {rep.status}{' (resumed)' if rep.resumed else ''}; "
                  f"{rep.excerpts} excerpts in {rep.blocks} blocks ({rep.blocks_skipped} already done); "
                  f"embedded {rep.embedded}, from cache {rep.from_cache}; {rep.seconds:.1f}s ({rep.rate_per_s}/s)")
    if rep.index is not None:
        console.print(f"index: {rep.index['added']} added, {rep.index['removed']} removed, "
                      f"{rep.index['embedded']} embedded")


def precode_on_executor(
    project: Any, *, executor: str, address: str | None, engine: str, codes: list[str] | None,
    filters: dict[str, Any] | None, run_id: str | None, include_interviewer: bool, block_size: int, batch_size: int,
    actors: int, cpus_per_actor: float, gpus_per_actor: float, endpoints: list[str] | None, per_endpoint: int,
    concurrency: int | None, budget_usd: float | None, progress: Any = None,
    validation: int | str | None = "latest",
) -> Any:
    """`thematic precode --executor ray`: the offline engine in blocks on Ray, or the LLM engine
    with its calls spread over `endpoints` (Ray actors make them)."""
    from assistant.batch.cluster import check_executor, connect

    check_executor(executor)
    if engine == "offline":
        from assistant.batch.precode import precode_blocks

        return precode_blocks(project, executor, address=address, codes=codes, filters=filters, run_id=run_id,
                              include_interviewer=include_interviewer, progress=progress, validation=validation,
                              options=_options(block_size, batch_size, actors, cpus_per_actor, gpus_per_actor))
    from assistant.batch.endpoints import EndpointPool, endpoint_factories
    from assistant.coding import precode as pc

    urls = endpoints or ([project.settings.llm.base_url] if project.settings.llm.base_url else [])
    if executor == "ray":
        connect(address)
    pool = EndpointPool(factories=endpoint_factories(project.settings.llm, urls), labels=list(urls),
                        per_endpoint=per_endpoint, via_ray=executor == "ray", model_name=project.settings.llm.model,
                        pool_llm_type=_llm_type(project.settings.llm))
    return pc.precode(project, "llm", codes, filters, concurrency or pool.concurrency, budget_usd, run_id,
                      include_interviewer, chat_model=pool, progress=progress, validation=validation)


def _llm_type(llm: Any) -> str:
    """The LangChain type name of the provider, so the pool's cache keys are a single server's."""
    return {"ollama": "chat-ollama", "openai": "openai-chat"}.get(llm.provider, f"{llm.provider}-chat")


def register(app: typer.Typer) -> None:
    app.command("embed")(embed_cmd)
