"""One story across outlets: near-duplicate clusters (MinHash LSH over 5-word shingles),
measured on generated agency copies of real articles, stored with the index and kept in
step with updates and removals; search shows one copy per story."""

from __future__ import annotations

from dataclasses import replace

import pytest

from index.archive import ArchiveIndex
from index.builder import build_index
from index.stories import THRESHOLD, StoryClusters
from index.updater import update_index
from qa.eval.stories import agency_copies, light_edits, paragraphs, score
from tests.helpers import write_csv


def test_agency_copies_join_their_original_and_nothing_else(news_rows):
    """Copies (new headline, a paragraph added and/or dropped, light edits, next day) of
    120 real articles, clustered with a third of the real archive, whose articles about
    the same events in their own words must stay apart."""
    rows = news_rows[::3]
    copies = agency_copies(rows, 120, seed=5)
    s = score(rows, copies, THRESHOLD)
    assert s.copies == 120
    assert s.recall >= 0.90, (s.found, s.copies)
    assert s.precision >= 0.95, (s.copy_pairs, s.wrong_pairs)


def _row(r: dict, **kw) -> dict:
    return {**r, **kw}


@pytest.fixture()
def story_case(news_rows, tmp_path):
    """Twenty real articles, and a wire copy of the first under another id, headline, date."""
    import random

    base = [r for r in news_rows if len(paragraphs(r["text"])) >= 4][:20]
    orig = base[0]
    text = light_edits("\n\n".join(paragraphs(orig["text"])[1:]), random.Random(3))
    copy = _row(
        orig,
        article_id="wire-1",
        title="WIRE: " + orig["title"],
        text=text,
        publish_date="2017/3/30",
        article_source_link="https://wire.example/story-1",
    )
    return {
        "base": write_csv(base, tmp_path / "base.csv"),
        "copy": write_csv([copy], tmp_path / "copy.csv"),
        "orig": orig,
        "tmp": tmp_path,
    }


def _clusters(root, embedder) -> StoryClusters:
    idx = ArchiveIndex.open(root, model_name=embedder.name, dim=embedder.dim)
    try:
        return StoryClusters.from_store(idx.store)
    finally:
        idx.close()


def test_clusters_follow_updates_and_removals(story_case, embedder, build_options):
    root = story_case["tmp"] / "index"
    orig = story_case["orig"]["article_id"]
    build_index([story_case["base"]], root, embedder, build_options)
    assert _clusters(root, embedder).cluster_of == {}
    delta = replace(build_options, compact_fraction=10.0)
    update_index(root, embedder, add=[story_case["copy"]], options=delta)
    c = _clusters(root, embedder)
    assert c.others(orig) == ["wire-1"] and c.key("wire-1") == c.key(orig)
    update_index(root, embedder, remove=["wire-1"], options=delta)
    assert _clusters(root, embedder).cluster_of == {}
    update_index(root, embedder, add=[story_case["copy"]], options=delta)
    update_index(root, embedder, options=replace(delta, compact=True))
    assert _clusters(root, embedder).others(orig) == ["wire-1"]


def test_search_shows_one_copy_with_the_others_listed(story_case, embedder, build_options):
    from qa.service import QAService
    from qa.settings import Settings

    root = story_case["tmp"] / "index2"
    build_index([story_case["base"], story_case["copy"]], root, embedder, build_options)
    orig = story_case["orig"]
    with QAService.from_settings(Settings(index_dir=root)) as svc:
        passages = svc.search(orig["title"], k=10)
        ids = [p.article_id for p in passages]
        assert (orig["article_id"] in ids) != ("wire-1" in ids)  # one copy of the story
        shown = next(p for p in passages if p.article_id in (orig["article_id"], "wire-1"))
        other = {orig["article_id"], "wire-1"} - {shown.article_id}
        assert [c.article_id for c in shown.also_published_by] == list(other)
        assert shown.also_published_by[0].label
        # Without clustering both copies would be there: the search really collapsed them.
        raw = svc.searcher.index.keyword_search(orig["title"], 50, None)
        arts = {c.article_id for c in svc.index.chunks([r for r, _ in raw]).values()}
        assert {orig["article_id"], "wire-1"} <= arts
