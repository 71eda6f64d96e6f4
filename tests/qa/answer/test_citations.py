"""Citation parsing and verification against adversarial model outputs (no model needed)."""

from __future__ import annotations

import pytest

from qa.answer.citations import REFUSAL, find_quote, parse_reply, resolve
from tests.helpers import shown

RYABKOV = (
    "Deputy foreign minister Sergei Ryabkov warned the US ‘that pumping weapons from a number "
    "of countries it orchestrates isn’t just a dangerous move, it’s an action that makes those "
    "convoys legitimate targets’."
)
ZELENSKY = (
    "But Volodymyr Zelensky has slammed the West for its inaction, saying today he ‘doesn’t see "
    "any bravery from NATO’ as he pleaded for more involvement from allies."
)
BRIDGE = "The mayor opened the new bridge on Monday. It cost 40 million euros, the council said."


PARAS = shown(RYABKOV, ZELENSKY, BRIDGE)


def test_exact_normalized_and_fuzzy_quotes_are_found_in_the_paragraph():
    exact = find_quote("makes those convoys legitimate targets", RYABKOV)
    assert exact and exact.how == "exact"
    assert RYABKOV[exact.start : exact.end] == "makes those convoys legitimate targets"
    # Straight quotes and other case for curly quotes: normalized match, original span.
    norm = find_quote("he 'doesn't see any bravery from NATO'", ZELENSKY)
    assert norm and norm.how == "normalized"
    assert ZELENSKY[norm.start : norm.end] == "he ‘doesn’t see any bravery from NATO"
    # One word changed in a long quote: fuzzy, and the span shown is the paragraph's text.
    fuzzy = find_quote(
        "pumping weapons from a number of nations it orchestrates isn't just a dangerous move",
        RYABKOV,
    )
    assert fuzzy and fuzzy.how == "fuzzy"
    assert RYABKOV[fuzzy.start : fuzzy.end].startswith("pumping weapons from a number")


@pytest.mark.parametrize(
    "quote",
    ["Ryabkov praised the convoys as safe and legitimate", "the", "NATO", ""],
)
def test_quotes_not_in_the_paragraph_or_too_short_are_not_found(quote):
    assert find_quote(quote, RYABKOV) is None


def test_out_of_range_marker_is_dropped_and_sources_renumbered_by_first_use():
    raw = (
        "Zelensky said he 'doesn't see any bravery from NATO' [2]. "
        "Sergei Ryabkov warned the US that pumping weapons makes those convoys legitimate "
        "targets [1][9]."
    )
    r = resolve(raw, PARAS)
    assert "[9]" not in r.answer and any("[9]" in n for n in r.notes)
    assert [c.chunk_id for c in r.citations] == ["chunk2", "chunk1"]  # first use order
    assert [c.n for c in r.citations] == [1, 2]
    assert r.answer.index("[1]") < r.answer.index("[2]")
    assert r.verified == 2 and r.unverified == 0
    for c in r.citations:
        assert c.verified and c.quote and c.text[c.quote_start : c.quote_end] == c.quote


def test_listed_quote_not_in_the_cited_paragraph_is_unverified_and_never_shown():
    raw = (
        'Ryabkov called the convoys entirely safe [1].\nQuotes:\n[1] "the convoys are entirely '
        'safe and welcome"'
    )
    r = resolve(raw, PARAS)
    assert r.unverified == 1 and r.verified == 0
    (c,) = r.citations
    assert not c.verified and c.quote == "" and c.quote_start == -1 and c.match == "unverified"
    assert "entirely safe and welcome" not in c.quote


def test_quote_from_another_paragraph_does_not_verify_the_cited_one():
    """The quote is in [3], not in the cited [2]: [2] is never shown as verified; the
    citation moves to [3], which holds the quote, and a note says so."""
    raw = 'The mayor said it "cost 40 million euros" [2].'
    r = resolve(raw, PARAS)
    assert [c.chunk_id for c in r.citations] == ["chunk3"]
    assert r.citations[0].verified and r.citations[0].quote == "cost 40 million euros"
    assert any("moved 1 citation" in n for n in r.notes)


def test_duplicated_markers_give_one_source():
    raw = "The mayor opened the new bridge on Monday [3][3]. It cost 40 million euros [3, 3]."
    r = resolve(raw, PARAS)
    assert len(r.citations) == 1 and r.citations[0].chunk_id == "chunk3"
    assert r.answer.count("[1]") == 2 and "[1][1]" not in r.answer and "[3]" not in r.answer


def test_no_markers_at_all():
    # Nothing traceable: no citation is invented.
    r = resolve("Officials are reviewing the situation carefully.", PARAS)
    assert r.citations == [] and not r.refused
    assert any("cites no paragraph" in n for n in r.notes)
    # Words copied from one paragraph: that paragraph is cited, and the note says so.
    r = resolve("Zelensky has slammed the West for its inaction.", PARAS)
    assert [c.chunk_id for c in r.citations] == ["chunk2"] and r.answer.endswith("[1]")
    assert any("added a citation" in n for n in r.notes)


def test_refusals_are_recognised_and_normalised():
    for raw in (
        REFUSAL,
        "The paragraphs do not answer this question.",
        "Insufficient information.",
    ):
        r = resolve(raw, PARAS)
        assert r.refused and r.answer == REFUSAL and r.citations == []


def test_parse_reply_tolerates_small_model_layouts():
    p = parse_reply('Answer: X did it [1]. Quotes: [1] "one two three" [2] "four five six"')
    assert p.answer == "X did it [1]."
    assert p.quotes == {1: ["one two three"], 2: ["four five six"]}
    p = parse_reply('**Answer:** Y [2]\n[2] "seven eight nine"')
    assert p.answer == "Y [2]" and p.quotes == {2: ["seven eight nine"]}


def test_wrong_number_on_a_supported_claim_is_moved_to_the_right_paragraph():
    raw = "Zelensky said he doesn't see any bravery from NATO [1]."
    r = resolve(raw, shown(RYABKOV, ZELENSKY))
    assert [c.paragraph for c in r.citations] == [2]
    assert r.citations[0].verified and "bravery from NATO" in r.citations[0].quote
    assert r.answer.endswith("[1].") or r.answer.endswith("[1]")
    assert any("moved 1 citation" in n for n in r.notes)
    # A claim that no shown paragraph holds stays where the model put it, unverified.
    unsupported = resolve("The bridge was painted green [1].", shown(RYABKOV, ZELENSKY))
    assert [c.verified for c in unsupported.citations] == [False]
