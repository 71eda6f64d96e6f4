"""The page's HTML: untrusted text stays text, quotes are highlighted at their offsets,
only http(s) urls become links, and filters are checked before any search."""

from __future__ import annotations

import pytest

from qa.errors import FilterError
from qa.response import Answer, Citation
from qa.retrieval.filters import make_filters
from ui.render import answer_html, chat_answer_html, citation_card, safe_url, sources_html

EVIL = '<script>document.title="pwned"</script><img src=x onerror="alert(1)">'


def cite(**kw) -> Citation:
    text = kw.pop("text", "Before. Ryabkov warned about convoys. After.")
    quote = "Ryabkov warned about convoys."
    start = text.find(quote)
    base = dict(
        n=1,
        article_id="a",
        chunk_id="c",
        title="Headline",
        source="tass.com",
        date="2016-05-01T10:00:00",
        url="https://tass.com/world/1",
        paragraph=3,
        text=text,
        quote=quote,
        quote_start=start,
        quote_end=start + len(quote),
    )
    return Citation(**{**base, **kw})


def test_markers_become_links_only_for_real_citations():
    html = answer_html("A [1] and B [2] and [x].", {1})
    assert '<a class="cite" href="#src-1"' in html
    assert "[2]" in html and "#src-2" not in html


def test_each_chat_answer_carries_its_own_sources():
    answer = Answer(question="q", answer="Ryabkov warned [1].", citations=[cite(title=EVIL)])
    html = chat_answer_html(answer, turn=2)
    assert html.startswith('<div class="answer turn-2">')
    assert '<details class="turn-sources">' in html and "paragraph 3" in html
    assert "“Ryabkov warned about convoys.”" in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert 'class="sources turn-2"' in sources_html(answer, turn=2)


def test_untrusted_text_is_escaped_everywhere():
    html = answer_html(EVIL + " [1]", {1}) + citation_card(cite(title=EVIL, text=EVIL, source=EVIL))
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


def test_quote_is_highlighted_at_its_offsets():
    card = citation_card(cite())
    assert "Before. <mark>Ryabkov warned about convoys.</mark> After." in card
    assert "tass.com, 1 May 2016 · paragraph 3" in card
    assert 'href="https://tass.com/world/1"' in card


def test_quote_with_bad_offsets_is_not_highlighted():
    card = citation_card(cite(quote_start=-1, quote_end=-1))
    assert "<mark>" not in card and "Ryabkov warned" in card


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,x", "//evil.example", "", None, "tass.com/x"]
)
def test_only_http_urls_are_linked(url):
    assert safe_url(url) is None
    assert "original article" not in citation_card(cite(url=url))


def test_sources_panel_explains_a_refusal():
    html = sources_html(Answer(question="q", answer="no", refused=True, notes=["too <far>"]))
    assert "No source quoted" in html and "too &lt;far&gt;" in html


def test_filters_are_checked():
    known = ["tass.com", "bbc.co.uk"]
    f = make_filters(["TASS.com"], "1 May 2016", "", known)
    assert (f.sources, f.since, f.until) == (["tass.com"], "2016-05-01", None)
    assert make_filters([], None, None, known).is_empty()
    with pytest.raises(FilterError, match="unknown outlet 'cnn'"):
        make_filters(["cnn"], None, None, known)
    # Outlets named the way people say them, as in questions.
    known += ["The Independent - Sports", "The Independent - World"]
    assert make_filters(["TASS"], None, None, known).sources == ["tass.com"]
    assert make_filters(["bbc"], None, None, known).sources == ["bbc.co.uk"]
    assert make_filters(["The Independent"], None, None, known).sources == [
        "The Independent - Sports",
        "The Independent - World",
    ]
    with pytest.raises(FilterError, match="not a date"):
        make_filters([], "soon", None, known)
    with pytest.raises(FilterError, match="after"):
        make_filters([], "2017-01-01", "2016-01-01", known)


def test_every_citation_shows_its_outlet_and_date():
    c = cite()
    assert c.label == "tass.com, 1 May 2016" and c.model_dump()["label"] == c.label
    assert cite(date=None, source=None).label == "unknown outlet, undated"
    answer = Answer(question="q", answer="Ryabkov warned [1].", citations=[c])
    html = chat_answer_html(answer) + citation_card(c)
    assert html.count("tass.com, 1 May 2016") >= 3  # tooltip, chat sources, card
    # The JSON contract only grows: an answer read back from JSON keeps its citations.
    assert Answer.model_validate_json(answer.model_dump_json()).citations[0].label == c.label


def test_other_outlets_reporting_the_same_are_listed_and_escaped():
    from qa.response import OtherReport

    other = OtherReport(
        article_id="b",
        chunk_id="d",
        title=EVIL,
        source=EVIL,
        date="2016-05-02",
        url="javascript:alert(1)",
        paragraphs=[2],
        similarity=0.9,
        shared_names=[EVIL, "ryabkov"],
    )
    card = citation_card(cite(reported_by=[other]))
    assert "reported by 2 outlets: also" in card and "2 May 2016" in card
    assert "<script" not in card and "<img" not in card and "javascript:" not in card
    assert citation_card(cite()).count("reported by") == 0
