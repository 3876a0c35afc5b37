"""The ``guanxi`` command: thin Typer sub-commands over the library.

Every command has ``--help`` with an example; errors are one line with the fix
and a non-zero exit (see ``errors.py``); ``--json`` prints machine-readable output.
"""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import json
import logging
import os
import signal
import sys
import warnings
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape
from typer.core import TyperGroup

from guanxi.errors import GuanxiError, InputError
from guanxi.interrupts import (
    EXIT_CODE,
    StoppedAfterCommit,
    exit_stopped,
    finished,
    leave,
    stop_on,
    stopped,
    uninterrupted,
)
from guanxi.output import RichProgress, console, emit_json, emit_record, emit_rows, json_emitted


class _Commands(TyperGroup):
    """The top-level group: a command line that does not parse (an unknown option, a
    value out of range) also gets the ``{"error": ...}`` object on stdout under
    ``--json``, as every other failure does; the usual message still goes to stderr."""

    def invoke(self, ctx: typer.Context) -> object:
        # The click that parses this command line: typer >= 0.24 carries its own copy,
        # older ones use click itself.
        usage_error = sys.modules[type(ctx).__module__.rpartition(".")[0] + ".exceptions"
                                  ].UsageError
        try:
            return super().invoke(ctx)
        except usage_error as exc:
            if "--json" in sys.argv[1:] and not json_emitted():
                path = " ".join(["guanxi", *_sub_commands(exc.ctx)])
                emit_json({"error": {"type": "UsageError", "message": exc.format_message(),
                                     "fix": f"see `{path} --help`",
                                     "exit_code": exc.exit_code}})
            raise


def _sub_commands(ctx: typer.Context | None) -> list[str]:
    """``["scores", "export"]`` for ``guanxi scores export``, however guanxi was started
    (``python -m guanxi`` names the root differently)."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return names[::-1]


app = typer.Typer(
    cls=_Commands,
    name="guanxi",
    help="Merchant networks in Neo4j, scored for collusion and group credit.\n\n"
    "Example: guanxi db start && guanxi synth --merchants 20000 --out data/demo "
    "&& guanxi ingest data/demo",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON for machines instead of a table.")
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="GUANXI_DATA_DIR", show_default=".guanxi/neo4j",
                 help="Folder of the local Neo4j (data, logs, password). Ignored with NEO4J_URI."),
]


def _graph(data_dir: Path | None):
    from guanxi.graph.connection import open_graph
    from guanxi.graph.settings import resolve

    return open_graph(resolve(data_dir))


# --- db ---------------------------------------------------------------------

db_app = typer.Typer(
    help="Manage the local Neo4j, apply the schema, run Cypher.\n\n"
    "Example: guanxi db start && guanxi db init && guanxi db status --json",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


@db_app.command("start")
def db_start(
    data_dir: DataDirOpt = None,
    port: Annotated[int | None, typer.Option(help="Bolt port on 127.0.0.1.",
                                             show_default="7687")] = None,
    heap: Annotated[str | None, typer.Option(help="JVM heap size, e.g. 1g or 512m.",
                                             show_default="1g")] = None,
    pagecache: Annotated[str | None, typer.Option(help="Neo4j page cache, e.g. 512m or 2g.",
                                                  show_default="512m")] = None,
    import_dir: Annotated[
        Path | None, typer.Option(help="Folder LOAD CSV may read (default DATA_DIR/import).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for Bolt to answer (and "
                                                "for another start of DATA_DIR to end).")
                       ] = 180.0,
    gds: Annotated[bool | None, typer.Option(
        "--gds/--no-gds", help="Run Graph Data Science inside the server (--no-gds: a "
        "smaller server; guanxi then computes graph algorithms in Python).",
        show_default="--gds")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start the local Neo4j in the background and wait until Bolt answers.

    The first start fetches Neo4j and Graph Data Science from Maven Central (needs
    Maven, once) and generates a password; later starts reuse both. Without network
    the server starts without Graph Data Science and says so. Already running: says so,
    exit 0, unless an option given differs from the running server's (another
    --port): then an error, exit 1. Two starts of one data dir at once: the
    second waits for the first, then finds it running.

    Example: guanxi db start --port 7687 --heap 2g --pagecache 1g
    """
    from guanxi.graph import server
    from guanxi.graph.settings import default_data_dir, external_uri

    if external_uri():
        _say_external(as_json, "start")
        return
    cfg = server.ServerConfig(data_dir or default_data_dir(), port, heap, pagecache, import_dir,
                              gds)
    if not as_json:
        console.print(f"starting Neo4j {server.NEO4J_VERSION} in {cfg.data_dir.absolute()} ...",
                      markup=False)
    try:
        started = server.start(cfg, timeout=timeout)
    except KeyboardInterrupt:
        console.print("interrupted: Neo4j may still be starting in the background; "
                      "`guanxi db start` again waits for it, `guanxi db stop` stops it",
                      markup=False)
        raise typer.Exit(EXIT_CODE) from None
    emit_record(started.as_dict(), as_json, title="neo4j")


@db_app.command("stop")
def db_stop(data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Shut the local Neo4j down cleanly. Not running: says so, exit 0.

    Example: guanxi db stop
    """
    from guanxi.graph import server
    from guanxi.graph.settings import default_data_dir, external_uri

    if external_uri():
        _say_external(as_json, "stop")
        return
    emit_record(server.stop(data_dir or default_data_dir()).as_dict(), as_json, title="neo4j")


@db_app.command("status")
def db_status(data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Running or stopped, pid, Bolt URI, Neo4j and Graph Data Science versions, data dir.

    Example: guanxi db status --json
    """
    from guanxi.graph import server
    from guanxi.graph.settings import default_data_dir, external_uri

    if external_uri():
        graph = _graph(None)
        from guanxi.graph.gds import gds_version
        from guanxi.queries import load

        version = graph.read(load("server_version"))[0]["version"]
        emit_record({"running": True, "uri": graph.settings.uri, "external": True,
                     "version": version, "gds": gds_version(graph),
                     "database": graph.database}, as_json, "neo4j")
        return
    emit_record(server.status(data_dir or default_data_dir()).as_dict(), as_json, title="neo4j")


def _say_external(as_json: bool, verb: str) -> None:
    from guanxi.graph.settings import external_uri

    note = f"NEO4J_URI is set: guanxi uses {external_uri()}; nothing to {verb} locally"
    if as_json:
        emit_record({"external": True, "uri": external_uri(), "note": note}, True)
    else:
        console.print(note, markup=False)


@db_app.command("init")
def db_init(data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Apply the schema: a unique id per node label, and the indexes. Idempotent.

    Example: guanxi db init
    """
    from guanxi.graph.schema import apply_schema

    emit_record(apply_schema(_graph(data_dir)), as_json, title="schema")


def _parse_params(params: list[str]) -> dict:
    out = {}
    for item in params:
        name, sep, raw = item.partition("=")
        if not sep or not name.isidentifier():
            raise InputError(f"--param {item!r} is not NAME=VALUE", "write e.g. -p id=M0000001")
        try:
            out[name] = json.loads(raw)
        except json.JSONDecodeError:
            out[name] = raw
    return out


@db_app.command("query")
def db_query(
    cypher: Annotated[str, typer.Argument(help="One Cypher statement, with $parameters.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="NAME=VALUE; VALUE is JSON if it parses, else text."),
    ] = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one parameterised Cypher statement and print the rows.

    Prints any value the server returns: one Python cannot hold (a date before
    year 1 or after 9999, e.g. date('-2024-08-01')) is printed as Neo4j writes it.

    Example: guanxi db query 'MATCH (m:Merchant {id: $id}) RETURN m.name AS name' -p id=M0000001
    """
    rows = _graph(data_dir).printable(cypher, **_parse_params(param or []))
    emit_rows(rows, as_json)


@db_app.command("stats")
def db_stats(data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Nodes per label, relationships per type, and source rows behind aggregated links.

    Example: guanxi db stats --json
    """
    from guanxi.graph.stats import graph_stats

    stats = graph_stats(_graph(data_dir))
    if as_json:
        emit_record(stats, True)
        return
    rows = [{"kind": "node", "name": k, "count": v} for k, v in stats["nodes"].items()]
    rows += [{"kind": "relationship", "name": k, "count": v}
             for k, v in stats["relationships"].items()]
    rows += [{"kind": "rows behind", "name": k, "count": v} for k, v in stats["rows"].items()]
    emit_rows(rows, False, title="graph")


# --- synth ------------------------------------------------------------------


@app.command("synth")
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write; created if "
                                      "missing, must be empty unless --force.")],
    merchants: Annotated[int, typer.Option(help="Number of merchants, 100 to 2,000,000.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: same arguments, same bytes.")] = 7,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    difficulty: Annotated[str, typer.Option(help="easy, medium or hard: camouflage, ring "
                                            "size and signal strength.")] = "medium",
    label_fraction: Annotated[float, typer.Option(help="Share of rings, per typology, whose "
                                                  "members are labelled fraud.")] = 0.3,
    rings_per_10k: Annotated[float, typer.Option(help="Collusion rings per 10,000 merchants, "
                                                 "split evenly over the five typologies.")] = 15.0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an earlier run in --out.")
                     ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a synthetic merchant network with planted collusion rings and credit outcomes.

    Writes merchants, payments, supply, shipments, labels and defaults files (the
    inputs of `guanxi ingest`), the ground truth in truth/ and manifest.json with
    exact row and entity counts. See docs/data.md.

    Example: guanxi synth --merchants 20000 --seed 7 --difficulty hard --out data/demo
    """
    from guanxi.ingest.synth import SynthParams, generate

    params = SynthParams(merchants=merchants, seed=seed, difficulty=difficulty,
                         label_fraction=label_fraction, rings_per_10k=rings_per_10k, fmt=fmt)
    with RichProgress(enabled=not (quiet or as_json)) as progress:
        summary = generate(params, out, force=force, progress=progress)
    if as_json:
        emit_record(summary.as_dict(), True)
        return
    m = summary.manifest
    emit_rows([{"file": m["files"][k], "rows": n} for k, n in m["rows"].items()], False,
              title=f"guanxi synth -> {out}")
    emit_rows([{"typology": t, "rings": n, "members": m["ring_members"][t]}
               for t, n in m["rings"].items()], False, title="planted rings")
    ents = {k: v for k, v in m["entities"].items() if k != "pairs"}
    console.print(f"entities: {json.dumps(ents)}; default rate {m['credit']['default_rate']:.1%}; "
                  f"{summary.seconds:.1f} s", highlight=False)


# --- ingest -----------------------------------------------------------------


@app.command("ingest")
def ingest(
    folder: Annotated[Path, typer.Argument(help="Folder of input files (CSV or Parquet).")],
    mapping: Annotated[
        Path | None, typer.Option(help="TOML file: file names, column renames, encoding, "
                                       "timestamp format per kind.")
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="CSV for rejected rows, with file, line and reason.",
                                  show_default=".guanxi/rejects/FOLDER-TIME.csv")
    ] = None,
    batch_size: Annotated[
        int, typer.Option(help="Rows per write transaction (on average, for payments, "
                               "supply and shipments, which batch by payee).")
    ] = 10_000,
    max_reject_rate: Annotated[
        float, typer.Option(help="Fail a file (writing none of it) above this share of "
                                 "rejected rows.")
    ] = 0.05,
    workers: Annotated[int, typer.Option(help="Write transactions in flight at once (>= 1).")
                       ] = 2,
    reload: Annotated[
        bool, typer.Option("--reload", help="Load merchants, labels and defaults files again "
                           "even if these bytes were loaded before (to apply a changed "
                           "mapping); payments, supply and shipments are never loaded twice.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load a folder of merchants, payments, supply, shipments, labels and defaults files.

    Rows are validated (bad ones go to the rejects file with line and reason),
    written in batches exactly once, and an interrupted load resumes where it
    stopped: run the same command again. A file is known by its bytes: loading the
    same content twice (same folder or another, any name or mapping) changes nothing.
    A second ingest of a file that is being loaded stops with exit code 75.

    Example: guanxi ingest data/demo --mapping my-columns.toml --max-reject-rate 0.01
    """
    from guanxi.ingest.load import IngestOptions, ingest_folder

    try:
        with RichProgress(enabled=not (quiet or as_json)) as progress:
            options = IngestOptions(mapping=mapping, rejects=rejects, batch_size=batch_size,
                                    max_reject_rate=max_reject_rate, workers=workers,
                                    progress=progress, reload=reload)
            report = ingest_folder(_graph(data_dir), folder, options)
    except KeyboardInterrupt:
        console.print("interrupted: run the same command again to resume where it stopped")
        raise typer.Exit(EXIT_CODE) from None
    if as_json:
        emit_record(report.as_dict(), True)
    else:
        rows = [{"file": f.file, "status": f.status, "read": f.rows_read,
                 "rejected": f.rejected, "written": f.rows_written,
                 "nodes+": f.nodes_created, "links+": f.relationships_created,
                 "s": f.seconds} for f in report.files]
        emit_rows(rows, False, title=f"ingest {folder}")
        for f in report.files:
            if f.note:
                console.print(f"{f.file}: {f.note}", markup=False)
        for warning in report.warnings:
            console.print(f"warning: {warning}", markup=False)
        if any(f.rejected for f in report.files if f.status == "loaded"):
            console.print(f"rejected rows are listed in {report.rejects_file}", markup=False)
    if report.error:
        raise report.error


# --- train, score, evaluate ----------------------------------------------------

ModelsOpt = Annotated[
    Path | None,
    typer.Option("--models", envvar="GUANXI_MODELS_DIR", show_default=".guanxi/models",
                 help="Folder of saved models, one sub-folder per version."),
]


def _say(as_json: bool):
    """Where notices go: the console, or nowhere when stdout carries JSON (they are in
    the JSON's notes)."""
    return None if as_json else (lambda line: console.print(line, markup=False))


def _fitting_job(*, scoring: bool = False) -> None:
    """Start a command that fits or scores models: a bad ``GUANXI_WORKERS`` fails now,
    not after a minute's read; SIGTERM (a deadline, ``kill``) stops it as Ctrl-C does,
    its worker processes with it; then the model stack (torch, PyG, LightGBM) is
    loaded with stop signals held (a ``KeyboardInterrupt`` raised inside torch's native
    start-up aborted the process): one that came meanwhile is raised when it is loaded.
    The stack is imported with the garbage collector off (``gnn/memory.py``);
    ``scoring``: a run that scores and ends (``score``, ``refresh``) keeps the memory it
    frees for its next arrays, and what the imports made is frozen, out of every later
    collection's way (``gnn/memory.py``); and PyG without torch's compiler
    (``gnn/no_compiler.py``)."""
    from guanxi.gnn.memory import imported_untracked, keep_freed_memory
    from guanxi.gnn.no_compiler import import_pyg
    from guanxi.gnn.workers import workers

    workers()
    if scoring:
        keep_freed_memory()
    stop_on(signal.SIGTERM)
    with uninterrupted(), imported_untracked(freeze=scoring):
        import_pyg()
        import guanxi.gnn.pipeline  # noqa: F401


@app.command("train")
def train_cmd(
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1,
                                      help="Random seed: same graph and seed, same model.")
                    ] = 0,
    gnn: Annotated[bool, typer.Option("--gnn/--no-gnn", help="Use the graph neural network "
                                      "(--no-gnn: trees on graph features only, faster).")
                   ] = True,
    epochs: Annotated[int, typer.Option(min=1, help="Most GNN epochs (early stopping usually "
                                        "ends sooner).")] = 150,
    models: ModelsOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train the collusion and credit models on the graph's labels and save a new version.

    Learns from the labels file (fraud/legit), the defaults file (observed loan
    outcomes) and investigators' case decisions. With no fraud labels the ring scores
    are unsupervised, and the output says so. Prints the version and out-of-fold
    quality on the training labels; `guanxi score` then uses the latest version.

    Example: guanxi train --seed 0 --json
    """
    from dataclasses import replace

    saved: set[str] | None = None  # the versions saved before this one
    try:
        _fitting_job()
        from guanxi.gnn.artefact import list_artefacts
        from guanxi.gnn.pipeline import train
        from guanxi.gnn.scorer import ScorerSettings

        saved = {a.version for a in list_artefacts(models)}
        base = ScorerSettings()
        settings = replace(base, seed=seed, use_gnn=gnn, gnn=replace(base.gnn, epochs=epochs))
        with RichProgress(enabled=not (quiet or as_json)) as progress:
            report = train(_graph(data_dir), settings, models=models, progress=progress,
                           say=_say(as_json))
        finished()
    except KeyboardInterrupt:
        new = [] if saved is None else sorted({a.version for a in list_artefacts(models)}
                                              - saved)
        console.print(f"interrupted after model {new[-1]} was saved: it is the latest, the "
                      "one `guanxi score` uses" if new else
                      "interrupted: a model is saved only whole, so the latest saved one "
                      "is unchanged; run `guanxi train` again to train this one",
                      markup=False)
        raise typer.Exit(EXIT_CODE) from None
    if as_json:
        emit_record(report.as_dict(), True)
        return
    record = {"version": report.version,
              "supervised": "yes" if report.supervised else "no (unsupervised ring scores)",
              **{f"labels {k}": v for k, v in report.labels.items()},
              **{k: v for k, v in report.metrics.items() if k.startswith("oof_")},
              **{f"seconds {k}": v for k, v in report.seconds.items()}}
    emit_record(record, False, title="guanxi train")


@app.command("score")
def score_cmd(
    model: Annotated[str | None, typer.Option("--model", help="Model version to use "
                                              "(default: the latest trained).")] = None,
    models: ModelsOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score every merchant and cluster with a trained model and write the scores to Neo4j.

    Merchants get ring_score, pd and credit_score (350-950); clusters get a collusion
    score, a group PD, a credit score, key members, top factors and top links.
    Cluster ids persist from the scores already stored when membership mostly stays.

    Example: guanxi score --json
    """
    try:
        _fitting_job(scoring=True)
        from guanxi.gnn.pipeline import score

        with RichProgress(enabled=not (quiet or as_json)) as progress:
            _, report = score(_graph(data_dir), version=model, models=models,
                              progress=progress, say=_say(as_json))
        finished()
    except StoppedAfterCommit as exc:
        _score_stopped(f"stopped after the scores were written: {exc.done}, and readers "
                       "see it", as_json, committed=True)
    except KeyboardInterrupt:
        _score_stopped("interrupted: readers see the last complete scoring run; the next "
                       "`guanxi score` or `guanxi refresh` cleans up what this one wrote",
                       as_json)
    if as_json:
        emit_record(report.as_dict(), True)
        return
    emit_record({"model_version": report.model_version, "scored_at": report.scored_at,
                 "merchants": report.merchants, "clusters": report.clusters,
                 "suspicious clusters": report.suspicious_clusters,
                 **{f"seconds {k}": v for k, v in report.seconds.items()}}, False,
                title="guanxi score")
    for note in report.notes:
        console.print(f"note: {note}", markup=False)


def _timestamp(text: str, option: str) -> datetime:
    """``text`` as an aware datetime (ISO 8601; no zone: UTC), or a one-line error."""
    try:
        when = datetime.fromisoformat(text.strip())
        # In UTC, as Neo4j compares it: a time before the year 1 there is out of range.
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise InputError(f"{option} {text!r} is not a timestamp",
                         "give ISO 8601, e.g. 2026-11-30T08:00:00Z or 2026-11-30") from None


@app.command("refresh")
def refresh_cmd(
    model: Annotated[str | None, typer.Option("--model", help="Model version to use "
                                              "(default: the latest trained).")] = None,
    models: ModelsOpt = None,
    full: Annotated[bool, typer.Option("--full", help="Score every merchant again, even "
                                       "when nothing was ingested since the current "
                                       "run.")] = False,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="TIMESTAMP",
        help="Re-score around what was ingested after this time (ISO 8601, e.g. "
             "2026-11-30T08:00:00Z; no zone means UTC); not later than when the current "
             "run read the graph. Default: since then.")] = None,
    log_json: Annotated[bool, typer.Option("--log-json", help="Log one JSON object per "
                                           "line on stderr, for a log collector.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Refresh embeddings, clusters and scores in Neo4j: the job for cron or Kubernetes.

    Incremental by default: re-scores only the merchants that what was ingested
    since the current run can reach (the model's depth in links), and the clusters
    they belong to or move between; everything else keeps its scores. --full (or a
    different model, or no scores yet) scores every merchant. The new run is written
    in batches and made current in one step: readers see the previous scores until
    then, and keep them if the job fails. Records each cluster's changes (joined,
    left, merged, split). When nothing was ingested since the current run and the
    model is the same, does nothing and says so. One refresh at a time: a second one
    exits 75 saying who holds the lock; a lock left by a dead run is taken over.

    Exit 0 on success; otherwise one line on stderr saying why, and exit 1 (or 75:
    try again later). Progress bars only in a terminal; log lines otherwise.
    See docs/operations.md for a cron line and a Kubernetes CronJob.

    Example: guanxi refresh --json --log-json
    """
    from guanxi import joblog
    from guanxi.errors import GuanxiError
    from guanxi.progress import log_progress

    bars = bool(sys.stderr and sys.stderr.isatty()) and not (quiet or as_json or log_json)
    # --quiet: warnings and the result only (no bars, no progress or stage lines).
    # With --log-json the done line is the result: it comes out even then.
    joblog.configure(log_json, level=logging.WARNING if quiet else logging.INFO,
                     always=("done",) if log_json else ())
    log = logging.getLogger("guanxi.refresh")
    try:
        # SIGTERM (a Kubernetes deadline, kill) stops the run like Ctrl-C: the lock is
        # released at once instead of going stale, and the log says so.
        _fitting_job(scoring=True)
        from guanxi.gnn.refresh import refresh

        after = None if since is None else _timestamp(since, "--since")
        with RichProgress(enabled=bars) as progress:
            report = refresh(_graph(data_dir), version=model, models=models, full=full,
                             since=after,
                             progress=progress if bars else
                             None if quiet else log_progress(log))
        finished()
    except StoppedAfterCommit as exc:
        _refresh_stopped(log, f"refresh stopped after its scores were written: {exc.done}, "
                         "and readers see it", as_json, committed=True)
    except KeyboardInterrupt:
        _refresh_stopped(log, "refresh interrupted: readers see the last complete run; "
                         "the next refresh cleans up what this one wrote", as_json)
    except GuanxiError as exc:
        if not log_json:
            raise  # main() prints the one line
        # Every stderr line stays JSON for the collector: the error is a log record.
        log.error(exc.one_line(), extra={"event": "failed", "exit_code": exc.exit_code})
        if as_json:
            emit_json({"error": exc.as_dict()})
        sys.exit(exc.exit_code)
    if as_json:
        emit_record(report.as_dict(), True)
        return
    if not log_json:
        emit_record({"run": report.run, "model_version": report.model_version,
                     "merchants": report.merchants, "re-scored": report.rescored,
                     "clusters": report.clusters,
                     "suspicious clusters": report.suspicious_clusters,
                     "clusters retired": report.clusters_retired,
                     **{f"clusters {k}": v for k, v in sorted(report.events.items())},
                     **{f"seconds {k}": v for k, v in report.seconds.items()}}, False,
                    title=f"guanxi refresh ({report.kind})")
        for note in report.notes:
            console.print(f"note: {note}", markup=False)


def _refresh_stopped(log: logging.Logger, message: str, as_json: bool, *,
                     committed: bool = False) -> NoReturn:
    """A refresh stopped by a signal: the log line, ``--json``'s error object (stdout is
    never left empty), exit :data:`EXIT_CODE`."""
    log.error("%s", message, extra={"event": "failed", "exit_code": EXIT_CODE,
                                    **({"committed": True} if committed else {})})
    if as_json:
        _emit_stopped(message, "refresh", committed)
    sys.exit(EXIT_CODE)


def _score_stopped(message: str, as_json: bool, *, committed: bool = False) -> NoReturn:
    """A score stopped by a signal: the line, ``--json``'s error object (stdout is never
    left empty), exit :data:`EXIT_CODE`."""
    console.print(message, markup=False)
    if as_json:
        _emit_stopped(message, "score", committed)
    sys.exit(EXIT_CODE)


def _emit_stopped(message: str, command: str, committed: bool) -> None:
    emit_json({"error": {"type": "Stopped", "message": message,
                         "fix": None if committed else f"run guanxi {command} again",
                         "exit_code": EXIT_CODE, "committed": committed}})


@app.command("evaluate")
def evaluate_cmd(
    truth: Annotated[Path, typer.Option("--truth", help="Folder with rings.csv and "
                                        "merchants.csv (or DIR/truth), e.g. from guanxi synth.")],
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="Seed of the baselines.")
                    ] = 0,
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines",
                                            help="Also fit and measure the baselines.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure the stored scores, and the baselines, against ground truth.

    On merchants that were not training labels: member AUPRC and AUROC, ring recall
    at K (K = number of true rings), ring-recovery F1, recall per typology, credit AUC
    and Brier score, and the rank correlation of clusters' group PD with the default
    rate their members reached. Baselines: FRAUDAR, gradient-boosted trees on own and
    neighbour features, Louvain plus rules, and for credit trees on own features.

    Example: guanxi evaluate --truth data/demo --json
    """
    from guanxi.gnn.evaluate import evaluate

    _fitting_job()
    with RichProgress(enabled=not (quiet or as_json)) as progress:
        result = evaluate(_graph(data_dir), truth, seed=seed, baselines=baselines,
                          progress=progress, say=_say(as_json))
    if as_json:
        emit_record(result, True)
        return
    # One row per metric, one column per model: the models side by side.
    models = result["models"]
    metrics = list(dict.fromkeys(k for m in models.values() for k in m
                                 if k != "recall_per_typology"))
    rows = [{"metric": k, **{name: m.get(k, "") for name, m in models.items()}}
            for k in metrics]
    emit_rows(rows, False, title="held out: " + ", ".join(
        f"{k} {v}" for k, v in result["held_out"].items()))
    typ = result["models"]["shipped"].get("recall_per_typology", {})
    if typ:
        console.print("shipped recall per typology: " + ", ".join(
            f"{k} {v}" for k, v in typ.items()), markup=False)


# --- scores -----------------------------------------------------------------

scores_app = typer.Typer(
    help="The scores `guanxi score` stored in Neo4j: export them to files, or follow "
    "one cluster across runs.\n\n"
    "Example: guanxi scores export --out exports/latest",
    no_args_is_help=True,
)
app.add_typer(scores_app, name="scores")


@scores_app.command("export")
def scores_export(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write merchants.csv and "
                                      "clusters.csv into; created if missing. An earlier "
                                      "export there is replaced; any other file of those "
                                      "names is left alone and the export refused.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the latest stored scores to two CSV files, one row per merchant or cluster.

    merchants.csv: merchant_id, cluster_id (empty: in no cluster),
    ring_score (chance of taking part in a collusion ring),
    pd (chance of default), credit_score (350-950).

    clusters.csv: cluster_id, size, collusion_score, group_pd, credit_score,
    top_factors (the reasons, as "score: name=value (+weight); ...").

    UTF-8, sorted by id. Needs scores in the graph: run `guanxi score` first.

    Example: guanxi scores export --out exports/latest --json
    """
    from guanxi.graph.scores import export_folder, export_scores, read_scores

    out = export_folder(out)  # before the read: a bad folder fails at once
    graph = _graph(data_dir)
    with RichProgress(enabled=not (quiet or as_json)) as progress:
        # The current run, whole: a run being written is not read, one replaced
        # during the read is read again.
        scores = read_scores(graph, progress=progress)
    paths = export_scores(scores, out)
    rows = {"merchants": len(scores.merchants), "clusters": len(scores.clusters)}
    if as_json:
        emit_record({"files": {k: str(p) for k, p in paths.items()}, "rows": rows,
                     "model_version": scores.model_version, "scored_at": scores.scored_at},
                    True)
        return
    emit_rows([{"file": paths[k].name, "rows": rows[k]} for k in paths], False,
              title=f"{scores.model_version}, scored at "
              f"{scores.scored_at:%Y-%m-%d %H:%M:%S} UTC")
    console.print(f"written to {out.absolute()}", markup=False)


class SimilarBy(StrEnum):
    fastrp = "fastrp"
    gnn = "gnn"


@app.command("similar")
def similar_cmd(
    merchant_id: Annotated[str, typer.Argument(help="The merchant to start from.")],
    k: Annotated[int, typer.Option("-k", help="How many merchants to list.")] = 10,
    by: Annotated[SimilarBy, typer.Option("--by", help="Which embeddings: fastrp (whom "
                                          "a merchant is linked to; finds ring partners "
                                          "best) or gnn (the graph neural network's).")
                  ] = SimilarBy.fastrp,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the merchants most like one merchant: nearest by the cosine of their embeddings.

    An embedding is a vector computed from a merchant's place in the network (whom it
    pays, supplies, ships to, shares phones or devices with): merchants that sit alike
    get similar vectors, even when not linked. Every scoring run writes FastRP
    embeddings (the default here: they find a ring member's partners best, see
    docs/results.md) and, with a model that has the graph neural network, the
    network's own (--by gnn). Shows similarity (the cosine, -1 to 1; 1 is closest),
    ring_score, pd, credit_score and cluster_id of each, most similar first, from the
    current scoring run. Needs scores: run `guanxi score` or `guanxi refresh` first.

    Example: guanxi similar M0000001 -k 5 --json
    """
    from guanxi.graph.similar import EMBEDDINGS, similar, similar_rows

    rows = similar_rows(similar(_graph(data_dir), merchant_id, k, by=EMBEDDINGS[by.value]))
    if not as_json:
        rows = [{**r, "similarity": f"{r['similarity']:.4f}"} for r in rows]
    emit_rows(rows, as_json, title=f"merchants most like {merchant_id} ({by.value})")


@scores_app.command("history")
def scores_history(
    cluster_id: Annotated[str, typer.Argument(help="The cluster to follow, e.g. from "
                                              "clusters.csv of `guanxi scores export`.")],
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One cluster in every scoring run that scored it, oldest first: when its scores moved.

    Per run: size, collusion_score, group_pd, credit_score, and how the cluster changed
    since the run before: event (new, merged, split, changed, same), who joined and
    left, which clusters merged into it, which split off.

    Example: guanxi scores history C1a2b3c4d5e6 --json
    """
    from guanxi.graph.scores import cluster_history

    frame = cluster_history(_graph(data_dir), cluster_id)
    rows = frame.to_dict("records")
    if not as_json:
        rows = [{"run": r["run"], "state": r["state"], "size": r["size"],
                 "collusion_score": r["collusion_score"], "group_pd": r["group_pd"],
                 "credit_score": r["credit_score"], "event": r["event"],
                 "joined": len(r["joined"] or []), "left": len(r["left"] or []),
                 "merged_from": ", ".join(r["merged_from"] or []),
                 "split_into": ", ".join(r["split_into"] or [])} for r in rows]
    emit_rows(rows, as_json, title=f"cluster {cluster_id}")


@app.command("ui")
def ui_cmd(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8501,
    host: Annotated[str, typer.Option(help="Address to listen on; the default serves this "
                                           "machine only. 0.0.0.0 serves every network.")
                    ] = "127.0.0.1",
    headless: Annotated[bool, typer.Option(
        "--headless", help="Do not open a browser (implied when stdin is not a terminal: "
                           "a service manager, nohup).")] = False,
    warm_up: Annotated[bool, typer.Option(
        "--warm-up/--no-warm-up", envvar="GUANXI_UI_WARM_UP",
        help="As it starts, fill the Overview's caches and read once, in the background, "
             "what the first pages read and every merchant's links, so that the first "
             "views are fast (100k merchants: about 10 s of reads). It reads whichever "
             "Neo4j the app uses, NEO4J_URI included: --no-warm-up (or "
             "GUANXI_UI_WARM_UP=0) spares a shared server that read.")] = True,
    data_dir: DataDirOpt = None,
) -> None:
    """Serve the investigation app (Streamlit): merchant networks, cluster scores, cases.

    Reads the same Neo4j as every command (NEO4J_URI, else the local server); the
    password stays on the server side. Set GUANXI_UI_USER_HEADER to take the user's
    name from a sign-in proxy's header (docs/operations.md, The app).

    Example: guanxi ui --port 8501 --headless
    """
    from guanxi.ui.serve import serve

    code = serve(host, port, headless=headless, warm_up=warm_up, data_dir=data_dir,
                 say=lambda line: console.print(escape(line)))
    raise typer.Exit(code)


# A write fails with these: a full disk or device, an I/O error, a quota or size limit.
# (A closed pipe is typer's: it exits 1 quietly.)
_WRITE_ERRNOS = (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG)


def main() -> None:
    """Console-script entry point: library errors become one line and exit code; the
    exit skips the interpreter's teardown (``interrupts.leave``)."""
    try:
        _main()
    except SystemExit as exc:
        leave(exc.code)


def _main() -> None:
    # A crash in native code (torch, LightGBM, the driver) then prints every thread's
    # Python stack to stderr instead of nothing: an unattended job's log says where.
    # Without a stderr to write to (closed, or not a file) there is nowhere to say it.
    with contextlib.suppress(AttributeError, RuntimeError, ValueError, OSError):
        faulthandler.enable()
    # guanxi logs each failed query as a warning, and the driver a dropped connection as
    # an error; a failed command already says why in one line, so these show only when
    # GUANXI_LOG_LEVEL asks for them.
    asked = os.environ.get("GUANXI_LOG_LEVEL", "").upper()
    # torch_geometric's import calls torch.jit.script, which warns that it is
    # deprecated: a note for PyG's developers, not for someone scoring merchants.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated",
                            category=FutureWarning)
    try:
        if asked and not isinstance(logging.getLevelName(asked), int):
            raise InputError(f"GUANXI_LOG_LEVEL {asked!r} is not a logging level",
                             "use DEBUG, INFO, WARNING or ERROR")
        logging.basicConfig(level=asked or "ERROR",
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")
        logging.getLogger("neo4j").setLevel(asked or logging.CRITICAL + 1)
        stop_on(signal.SIGINT)  # Ctrl-C as Python's own, but never inside a driver call
        app()
    except SystemExit as exc:
        if exc.code == EXIT_CODE and stopped():
            exit_stopped()  # cleaned up already; the exit status stays EXIT_CODE
        if exc.code in (0, None):
            finished()  # done: a late signal must not make it look killed
        raise
    except GuanxiError as exc:
        # Escaped: file names and values in messages may hold [brackets].
        console.print(f"[red]error:[/red] {escape(exc.one_line())}", highlight=False)
        if "--json" in sys.argv[1:] and not json_emitted():
            emit_json({"error": exc.as_dict()})  # machines reading stdout get an object too
        sys.exit(exc.exit_code)
    except OSError as exc:
        # A write that failed, the output's (``--help > /dev/full``) or, should one
        # escape, a file's (a failed write names no file): one line, and Python's exit
        # status for output lost, as a success whose buffer cannot be flushed gets.
        # Every other OSError is guanxi's to turn into a GuanxiError.
        if exc.filename is not None or exc.errno not in _WRITE_ERRNOS:
            raise
        with contextlib.suppress(OSError, ValueError, AttributeError):
            print(f"error: could not write: {exc.strerror}", file=sys.stderr, flush=True)
        sys.exit(120)
