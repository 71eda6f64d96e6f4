#!/usr/bin/env bash
# One command from a fresh clone: set up, index the bundled sample (seed article + the
# 3,824-article NewsArticles archive), then answer a question with citations, or, with
# --serve, open the web page and HTTP API on http://127.0.0.1:7860/.
# Usage: bash scripts/demo.sh ["your question"] | bash scripts/demo.sh --serve
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh ui
# shellcheck disable=SC1091
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
index="${ARCHIVE_QA_INDEX_DIR:-indexes/demo}"
if ! archive-qa info --index "$index" >/dev/null 2>&1; then
  archive-qa build data/sample data/archive/NewsArticles.zip \
    --fields id=article_id,date=publish_date,url=article_source_link --index "$index"
fi
if [ "${1:-}" = "--serve" ]; then
  exec archive-qa serve --index "$index"
fi
archive-qa ask "${1:-Who threatened weapons convoys?}" --index "$index"
