"""The wheel ships the whole product: built from the tree, installed non-editable in a fresh
virtualenv, and run through its console script from outside the repo.

The fresh virtualenv reuses the session's installed dependencies through a .pth line that
points at a filtered view of the session's site-packages: every entry except archive-qa's own
(its dist-info and the editable-install hook), so the only `qa` the new environment can
import is the one the wheel put there. Nothing is fetched: the wheel is built with the
session's setuptools and installed with --no-index.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.helpers import ROOT, SEED, SEED_QUESTION

LAYERS = ("index", "qa", "ui")
# Never part of a source tree: local data, indexes, models, build output.
NOT_SOURCE = {"data", "indexes", "models", "artifacts", "build", "dist"}


def source_copy(dest: Path) -> Path:
    """The tree without local data and build output: setuptools builds in place (build/,
    *.egg-info), and a stale build/lib would let a deleted module slip into the wheel."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = Path(folder) == ROOT
        return {
            n
            for n in names
            if n.startswith(".")
            or n == "__pycache__"
            or n.endswith(".egg-info")
            or (top and n in NOT_SOURCE)
        }

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def session_site_dirs() -> list[Path]:
    paths = sysconfig.get_paths()
    dirs = [paths["purelib"], paths["platlib"], *site.getsitepackages()]
    return list(dict.fromkeys(Path(d).resolve() for d in dirs if Path(d).is_dir()))


def hidden(name: str) -> bool:
    """archive-qa's dist-info and editable-install hook; .pth files (never run from there)."""
    return name.startswith(("archive_qa", "__editable__")) or name.endswith(".pth")


def deps_view(dest: Path) -> Path:
    """The session's site-packages minus archive-qa's entries, as symlinks."""
    dest.mkdir()
    for site_dir in session_site_dirs():
        for entry in site_dir.iterdir():
            if not hidden(entry.name) and not (dest / entry.name).exists():
                (dest / entry.name).symlink_to(entry)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = source_copy(tmp / "src")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    run(
        [*cmd, "--no-index", "--quiet", "--wheel-dir", str(tmp / "dist"), str(src)],
        tmp,
        dict(os.environ),
    )
    (whl,) = (tmp / "dist").glob("archive_qa-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> tuple[Path, dict[str, str], Path]:
    """(the fresh venv, the environment to run it with, a cwd outside the repo)."""
    tmp = tmp_path_factory.mktemp("fresh")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A .pth line only appends the folder to sys.path; .pth files inside it are not run.
    (Path(purelib) / "session-deps.pth").write_text(f"{deps_view(tmp / 'deps')}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["HF_HUB_OFFLINE"] = env["TRANSFORMERS_OFFLINE"] = "1"
    # The session's converted embedding model (tests/conftest.py sets the folder).
    env["ARCHIVE_QA_EMBED_CACHE_DIR"] = os.environ["ARCHIVE_QA_EMBED_CACHE_DIR"]
    env["ARCHIVE_QA_GENERATOR"] = "extractive"
    cwd = tmp / "elsewhere"
    cwd.mkdir()

    probe = (
        "import importlib.util as u, importlib.metadata as m\n"
        "assert all(u.find_spec(p) is None for p in ('qa', 'index', 'ui')), 'repo visible'\n"
        "try:\n    m.version('archive-qa')\nexcept m.PackageNotFoundError:\n    pass\n"
        "else:\n    raise SystemExit('archive-qa already installed')\n"
        "import typer, faiss\n"
    )
    run([str(py), "-c", probe], cwd, env)  # dependencies reused, archive-qa not there yet
    pip = [str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet"]
    run([*pip, str(wheel)], cwd, env)
    return env_dir, env, cwd


def package_dirs() -> set[str]:
    return {
        p.parent.relative_to(ROOT).as_posix()
        for layer in LAYERS
        for p in (ROOT / layer).rglob("__init__.py")
    }


def test_wheel_holds_every_module_and_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n for n in names if n.endswith(".py")}
    source = {
        p.relative_to(ROOT).as_posix()
        for layer in LAYERS
        for p in (ROOT / layer).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert {"qa/bench", "qa/retrieval", "qa/answer", "qa/llm", "qa/eval"} <= package_dirs()
    assert {f"{d}/__init__.py" for d in package_dirs()} <= shipped
    assert shipped == source
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == set(LAYERS)
    (entry_points,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "archive-qa = ui.cli:app" in zipfile.ZipFile(wheel).read(entry_points).decode()


MODULE_ORIGINS = """
import importlib, importlib.util, json, sys
names = sys.argv[1:]
importlib.import_module("qa.bench.run")  # what `archive-qa bench` imports first
print(json.dumps({n: importlib.util.find_spec(n).origin for n in names}))
"""


def module_names() -> list[str]:
    names = []
    for layer in LAYERS:
        for p in sorted((ROOT / layer).rglob("*.py")):
            parts = p.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_module_resolves_to_the_fresh_venv(installed):
    env_dir, env, cwd = installed
    py = str(env_dir / "bin" / "python")
    origins = json.loads(run([py, "-c", MODULE_ORIGINS, *module_names()], cwd, env).stdout)
    purelib = next(env_dir.glob("lib/python*/site-packages")).resolve()
    elsewhere = {n: o for n, o in origins.items() if not Path(o).resolve().is_relative_to(purelib)}
    assert not elsewhere
    assert len(origins) == len(module_names())


def test_console_script_builds_and_answers_from_outside_the_repo(installed):
    env_dir, env, cwd = installed
    cli = str(env_dir / "bin" / "archive-qa")
    top = run([cli, "--help"], cwd, env).stdout
    assert all(cmd in top for cmd in ("build", "ask", "serve", "bench"))
    assert "--only" in run([cli, "bench", "--help"], cwd, env).stdout

    index = cwd / "seed-index"
    built = json.loads(
        run([cli, "build", str(SEED), "--index", str(index), "--json"], cwd, env).stdout
    )
    assert built["articles"] == 1, built
    out = run([cli, "ask", SEED_QUESTION, "--index", str(index), "--json"], cwd, env).stdout
    answer = json.loads(out)
    ryabkov = next(p for p in SEED.read_text(encoding="utf-8").split("\n") if "Ryabkov warned" in p)
    cited = answer["citations"][0]
    assert "[1]" in answer["answer"] and "Ryabkov" in answer["answer"]
    assert cited["text"].strip() == ryabkov.strip()
    assert cited["paragraph"] == 21 and cited["verified"]
    assert cited["text"][cited["quote_start"] : cited["quote_end"]] == cited["quote"]
