"""'How did coverage of X develop?': recognised from the question's parse, answered on the
session's real index as a dated list of cited paragraphs, one per period."""

from __future__ import annotations

import pytest

from qa.answer.development import development_topic, period_name, topic_names
from qa.response import human_date
from qa.timeline import period_start


@pytest.mark.parametrize(
    "question, topic",
    [
        ("How did coverage of Brexit develop?", "Brexit"),
        ("How has the story of Geert Wilders unfolded?", "Geert Wilders"),
        ("Timeline of the Dutch election", "Dutch election"),
        ("What is the timeline of the Flynn resignation?", "Flynn resignation"),
        (
            "How did reporting on North Korea's missile tests change over time?",
            "North Korea's missile tests",
        ),
        ("How did the coverage of the Mosul offensive evolve?", "Mosul offensive"),
        ("How has the story of the travel ban unfolded so far?", "travel ban"),
        ("How did the Kim Jong-nam killing story develop?", "Kim Jong-nam killing"),
    ],
)
def test_development_questions_and_their_topic(question, topic):
    assert development_topic(question) == topic


@pytest.mark.parametrize(
    "question",
    [
        "How did the virus develop resistance?",  # a thing done, not a course
        "Who developed the vaccine?",
        "How many people developed symptoms?",
        "How did Trump change the EPA?",
        "How did coverage develop?",  # names no topic
        "Who threatened weapons convoys?",
    ],
)
def test_other_questions_are_not(question):
    assert development_topic(question) is None


def _entries(answer):
    lines = answer.answer.split("\n")
    return lines[0], lines[1:]


def test_a_dated_list_one_cited_paragraph_per_period(service):
    answer = service.ask("How did coverage of the Syrian war develop?")
    assert not answer.refused and len(answer.citations) >= 2
    head, lines = _entries(answer)
    assert "Syrian war" in head and len(lines) == len(answer.citations)
    by = "week" if "by week" in head else "month"
    periods = [period_start(c.date, by) for c in answer.citations]
    assert periods == sorted(periods) and len(set(periods)) == len(
        periods
    )  # chronological, one each
    for line, c, period in zip(lines, answer.citations, periods):
        assert line.startswith(period_name(period, by))
        assert f"On {human_date(c.date)}, {c.source} reported" in line and line.endswith(f"[{c.n}]")
        assert c.text[c.quote_start : c.quote_end] == c.quote and c.quote in line
    assert any("dated list" in n for n in answer.notes)


def test_the_question_s_period_bounds_the_list(service):
    newest = service.info().date_range[1][:7]  # the archive's last month
    year, month = newest.split("-")
    from datetime import date

    name = date(int(year), int(month), 1).strftime("%B %Y")
    answer = service.ask(f"How did the story of the Syrian war unfold in {name}?")
    assert answer.time_range is not None and answer.time_range.since == f"{newest}-01"
    assert answer.citations and all(c.date[:7] == newest for c in answer.citations)


def test_a_name_is_found_however_it_is_hyphenated_or_spaced():
    from types import SimpleNamespace

    from qa.answer.development import mentions

    def hit(text):
        return SimpleNamespace(chunk=SimpleNamespace(title="", text=text))

    names = topic_names("Kim Jong-nam killing")
    assert names == ["Kim", "Jong-nam"]
    assert mentions(hit("The killing of Kim Jong Nam at the airport"), names)
    assert mentions(hit("Kim Jong-nam's body"), names)
    assert not mentions(hit("Kim Jong-un fired a missile"), names)


def test_a_topic_the_archive_lacks_is_declined(service):
    answer = service.ask("How did coverage of the Zorblaxian moon colony develop?")
    assert answer.refused and not answer.citations
