"""SIGKILL real rebuilds and updates at seeded random moments; the index must survive.

Each trial starts from the same published index, runs `archive-qa build` (or
`build --update`) in a subprocess, and kills it with SIGKILL at a random moment after
its first write (its temporary build folder appears), up to 1.2 times the time a complete
run takes from there to publishing. Whatever moment it dies at, the live index must open with all
its checksums verified and answer the seed question exactly as either the old build or a
complete new build does: never a mix, never an error. The next successful build then
leaves no temporary folder or pointer file behind.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from index import layout
from index.manifest import read_manifest
from qa.service import QAService
from qa.settings import Settings
from tests.helpers import NEWS_FIELDS, ROOT, SEED, SEED_QUESTION, write_csv

TRIALS = 10
SEED_RANDOM = 20261124


def build_cmd(root: Path, sources: list[Path], update: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "ui.cli", "build", *map(str, sources)]
    cmd += ["--fields", NEWS_FIELDS, "--index", str(root), "--quiet"]
    return cmd + (["--update"] if update else [])


def answer_of(root: Path) -> tuple[str, dict]:
    """(corpus hash of the live build, its answer to the seed question without timings)."""
    build = layout.current_build(root)
    svc = QAService.from_settings(Settings(index_dir=root, verify_checksums=True))
    try:
        answer = svc.ask(SEED_QUESTION).model_dump(mode="json")
    finally:
        svc.close()
    answer.pop("timings")
    return read_manifest(build).corpus_hash, answer


def leftovers(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.name.startswith(layout.TMP_PREFIX) or p.name.startswith(f".{layout.CURRENT}.")
    )


def timed_run(cmd: list[str]) -> float:
    """Run to completion; return the seconds from its first write (the temp folder
    appearing) to the publish (CURRENT replaced): the window where a kill matters."""
    root = Path(cmd[cmd.index("--index") + 1])
    pointer = root / layout.CURRENT
    before = pointer.read_text()
    log = root.parent / f"{root.name}.stderr"
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    first_write = published = None
    deadline = time.monotonic() + 900
    while proc.poll() is None and published is None:
        now = time.monotonic()
        assert now < deadline, "the reference run did not finish"
        if first_write is None and any((root / layout.BUILDS).glob(f"{layout.TMP_PREFIX}*")):
            first_write = now
        if pointer.read_text() != before:
            published = now
        time.sleep(0.01)
    proc.wait(900)
    assert proc.returncode == 0, log.read_text(errors="replace")
    assert first_write is not None and published is not None, "the run was too quick to time"
    return published - first_write


def kill_trials(
    template: Path, work: Path, cmd_for, expected: dict[str, dict], tail: float, rng
) -> Counter:
    """Run TRIALS killed runs; count which build each ended on (corpus hash)."""
    outcomes: Counter = Counter()
    for trial in range(TRIALS):
        root = work / f"trial{trial}"
        shutil.copytree(template, root)
        cmd = cmd_for(root)
        delay = rng.uniform(0.0, tail * 1.2)
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 300
            while proc.poll() is None and not any(
                (root / layout.BUILDS).glob(f"{layout.TMP_PREFIX}*")
            ):
                assert time.monotonic() < deadline, "the build never started writing"
                time.sleep(0.01)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
        corpus, answer = answer_of(root)
        assert corpus in expected, f"trial {trial}: the live build is neither the old nor the new"
        assert answer == expected[corpus], f"trial {trial}: the answer differs from that build's"
        outcomes[corpus] += 1
        if trial == TRIALS - 1:
            # The next successful run cleans up whatever the killed one left.
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            assert leftovers(root) == []
        shutil.rmtree(root, ignore_errors=True)
    return outcomes


@pytest.fixture(scope="module")
def sources(tmp_path_factory, news_rows) -> dict[str, list[Path]]:
    """Old archive (seed + 20 real articles) and a bigger new one (seed + 50)."""
    folder = tmp_path_factory.mktemp("crash-sources")
    old = write_csv(news_rows[:20], folder / "old.csv")
    new = write_csv(news_rows[:50], folder / "new.csv")
    changed = [dict(r) for r in news_rows[:21]]
    changed[3]["text"] += "\n\nA late correction added one more paragraph to this report."
    del changed[5]  # removed from the archive
    update = write_csv(changed, folder / "update.csv")
    return {"old": [SEED, old], "new": [SEED, new], "update": [SEED, update]}


def _reference(tmp: Path, cmd_for) -> tuple[float, dict[str, dict], Path]:
    """Build the template (old) index, then time one complete run of the killed command."""
    template = tmp / "template"
    done = subprocess.run(cmd_for(template, initial=True), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    old_corpus, old_answer = answer_of(template)
    ref = tmp / "reference"
    shutil.copytree(template, ref)
    window = timed_run(cmd_for(ref))
    new_corpus, new_answer = answer_of(ref)
    assert new_corpus != old_corpus
    return window, {old_corpus: old_answer, new_corpus: new_answer}, template


@pytest.mark.parametrize("mode", ["rebuild", "update"])
def test_sigkill_at_random_moments_never_breaks_the_index(tmp_path, sources, mode):
    def cmd_for(root: Path, initial: bool = False) -> list[str]:
        if initial:
            return build_cmd(root, sources["old"])
        if mode == "rebuild":
            return build_cmd(root, sources["new"])
        return build_cmd(root, sources["update"], update=True)

    tail, expected, template = _reference(tmp_path, cmd_for)
    rng = random.Random(SEED_RANDOM + (mode == "update"))
    outcomes = kill_trials(template, tmp_path / "trials", cmd_for, expected, tail, rng)
    old_corpus = next(iter(expected))
    print(
        f"{mode}: {outcomes[old_corpus]} trials ended on the old build, "
        f"{TRIALS - outcomes[old_corpus]} on the complete new one"
    )
    # Most kills land mid-write (the publish is the last instant of a run): the trials did
    # exercise a dying build, not only finished ones.
    assert outcomes[old_corpus] >= 3
