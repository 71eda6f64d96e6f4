"""Rebuild or update an index: `python scripts/build_index.py SOURCE... --index DIR [--update]`.

A thin entry point for operators' cron jobs; the same as `archive-qa build`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ui.cli import app  # noqa: E402

if __name__ == "__main__":
    sys.exit(app(["build", *sys.argv[1:]]))
