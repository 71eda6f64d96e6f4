"""Data flows one way, index <- qa <- ui: the import-linter contract in pyproject.toml.

The contract is checked on the real tree, and on a copy with planted violations (an import
inside a function, in a nested block, in a subpackage) so a contract that stopped seeing
imports would fail here too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

LAYERS = ("index", "qa", "ui")
# In-process lint_imports puts the cwd first on sys.path, so the tree at cwd is the one read
# (not an editable install that points elsewhere); no cache folder is left behind.
LINT = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(no_cache=True, no_logo=True))"
)


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", LINT],
        cwd=root,
        env={**env, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_layers_import_only_downwards():
    r = lint_imports(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Contracts: 1 kept, 0 broken." in r.stdout
    modules = sum(1 for layer in LAYERS for _ in (ROOT / layer).rglob("*.py"))
    assert f"Analyzed {modules} files" in r.stdout, r.stdout


PLANTED = {
    "index/_probe.py": "def load():\n    import qa.settings  # noqa: F401\n",
    "index/loaders_probe.py": "def f():\n    from ui import terminal  # noqa: F401\n",
    "qa/retrieval/_probe.py": (
        "def f(flag):\n    if flag:\n        for _ in ():\n"
        "            from ui.cli import app  # noqa: F401\n"
    ),
}


def test_contract_catches_upward_imports(tmp_path):
    for name in (*LAYERS, "pyproject.toml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, tmp_path / name)
    assert lint_imports(tmp_path).returncode == 0  # the copy is as clean as the tree
    for rel, code in PLANTED.items():
        (tmp_path / rel).write_text(code, encoding="utf-8")

    r = lint_imports(tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Contracts: 0 kept, 1 broken." in r.stdout
    for line in (
        "index._probe -> qa.settings",
        "index.loaders_probe -> ui.terminal",
        "qa.retrieval._probe -> ui.cli",
    ):
        assert line in r.stdout, r.stdout
