"""The CLI's error contract: a mistake the user can act on is one red line and exit 1,
Ctrl-C is exit 130, and a command's options survive the `@guarded` decorator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from tests.helpers import run_cli
from ui.cli import guarded


@pytest.mark.parametrize(
    "command",
    [["info"], ["update", "--remove", "no-such-id"]],
    ids=lambda c: c[0],
)
def test_a_missing_index_is_one_error_line_and_exit_1(tmp_path, command):
    missing = tmp_path / "nowhere"
    out = run_cli(*command, "--index", str(missing), timeout=120)
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: no index at {missing}"), out.stderr


def test_missing_benchmark_data_is_named_by_its_option(tmp_path):
    no_data = run_cli("eval", "multihop")
    assert no_data.returncode == 2 and "Missing option '--data'" in no_data.stderr
    no_multihop = run_cli("bench", "--only", "query")
    assert no_multihop.returncode == 1
    assert no_multihop.stderr.strip().splitlines() == [
        "error: the query section(s) need --multihop DIR, the MultiHop-RAG folder "
        "(queries_train.json, corpus_train.json); or choose others with --only"
    ]
    wrong = run_cli("bench", "--only", "backend", "--multihop", str(tmp_path))
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == f"error: --multihop {tmp_path}: no queries_train.json there"


def _app(raise_what: BaseException | None) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @guarded
    def run(
        name: Annotated[str, typer.Argument(help="A name.")],
        times: Annotated[int, typer.Option("--times", help="How often.")] = 1,
    ) -> None:
        """Greets, or fails the way it is told to."""
        if raise_what is not None:
            raise raise_what
        typer.echo(" ".join([f"hi {name}"] * times))

    return app


def test_guarded_keeps_the_signature_and_maps_errors_to_exit_codes():
    runner = CliRunner()
    ok = runner.invoke(_app(None), ["ann", "--times", "2"])
    assert ok.exit_code == 0 and ok.stdout == "hi ann hi ann\n"
    helped = runner.invoke(_app(None), ["--help"])
    assert "--times" in helped.stdout and "Greets, or fails" in helped.stdout

    for exc in (ValueError("bad date"), FileNotFoundError("no such file: x.csv")):
        failed = runner.invoke(_app(exc), ["ann"])
        assert failed.exit_code == 1 and failed.stderr == f"error: {exc}\n"
        assert failed.exception is None or isinstance(failed.exception, SystemExit)

    stopped = runner.invoke(_app(KeyboardInterrupt()), ["ann"])
    assert stopped.exit_code == 130
    assert stopped.stderr == "interrupted; the previous index is unchanged\n"

    # A bug is not a user error: it is not turned into a one-line message.
    bug = runner.invoke(_app(RuntimeError("a bug")), ["ann"])
    assert isinstance(bug.exception, RuntimeError) and "error: a bug" not in bug.stderr


def test_a_missing_source_path_is_one_error_line(tmp_path):
    gone = Path(tmp_path) / "no-such-file.csv"
    out = run_cli("build", str(gone), "--index", str(tmp_path / "idx"), "--quiet", timeout=300)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no-such-file.csv" in lines[0]
