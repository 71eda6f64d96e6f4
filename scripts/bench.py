"""Run the performance benchmark: `python scripts/bench.py [--only build,query,scale] [--json]`.

The same as `archive-qa bench` (see docs/performance.md).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ui.cli import app  # noqa: E402

if __name__ == "__main__":
    sys.exit(app(["bench", *sys.argv[1:]]))
