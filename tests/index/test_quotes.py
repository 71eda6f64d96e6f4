"""Attributed statements: extraction with the real spaCy pipeline, storage in real builds
(full, delta, compaction), and bad input that must never fail a build."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace

from index.archive import ArchiveIndex
from index.articles import Article
from index.builder import build_index
from index.chunker import ChunkSettings, display_paragraphs
from index.loaders import FieldMap, LoadReport, iter_articles
from index.quotes import MAX_ARTICLE_CHARS, MAX_PARAGRAPH_CHARS, extract_articles
from index.updater import update_index
from tests.helpers import ARCHIVE, NEWS_FIELDS, SEED, read_news_rows, write_csv

SETTINGS = ChunkSettings()


def _article(text: str, aid: str = "t1") -> Article:
    return Article(id=aid, title="t", text=text)


def test_the_seed_attributes_the_convoys_warning_to_ryabkov():
    article = _article(SEED.read_text(encoding="utf-8"))
    (found,), report = extract_articles([article], SETTINGS)
    assert report.statements == len(found) > 5
    paras = display_paragraphs(article.text, SETTINGS)
    for s in found:  # offsets point at the statement in its paragraph, verbatim
        a, b = paras[s.paragraph - 1]
        assert article.text[a:b][s.start : s.end] == s.statement
        assert article.text[s.article_start : s.article_start + len(s.statement)] == s.statement
    ryabkov = [s for s in found if "convoys" in s.statement]
    assert ryabkov, [s.statement for s in found]
    s = ryabkov[0]
    assert s.normalized == "Sergei Ryabkov" and s.verb == "warn" and s.resolved
    assert s.role.lower() == "deputy foreign minister"


def test_surnames_and_pronouns_resolve_within_the_article():
    text = (
        "Foreign Minister Anna Kowalska spoke in Warsaw on Monday.\n\n"
        "Kowalska said the talks with Berlin would resume next week.\n\n"
        '"We are not going to give up," she told reporters.\n\n'
        "According to the police, two people were arrested near the embassy."
    )
    (found,), _ = extract_articles([_article(text)], SETTINGS)
    by_text = {s.statement: s for s in found}
    talks = next(s for t, s in by_text.items() if "talks with Berlin" in t)
    assert talks.speaker == "Kowalska" and talks.normalized == "Anna Kowalska"
    pron = next(s for t, s in by_text.items() if "give up" in t)
    assert pron.speaker == "she" and pron.normalized == "Anna Kowalska" and pron.direct
    police = next(s for t, s in by_text.items() if "arrested" in t)
    assert police.verb == "according to" and "police" in police.speaker


def test_a_pronoun_with_no_speaker_before_it_is_marked_unresolved():
    (found,), _ = extract_articles(
        [_article("He said the bridge would be closed for repairs until the spring.")], SETTINGS
    )
    assert found and not found[0].resolved and found[0].speaker == "He"


def _statements(text: str) -> list:
    (found,), _ = extract_articles([_article(text)], SETTINGS)
    return found


def _about(found: list, words: str):
    return next(s for s in found if words in s.statement)


def test_a_quotation_continued_without_a_verb_keeps_the_speaker_just_before_it():
    reopened = _statements(
        'Det Insp Jane Morrow said: "The jury saw through the claims he made in court. '
        '"The story that another man looked just like him and shared his DNA is beyond belief."'
    )
    assert _about(reopened, "beyond belief").normalized == "Det Insp Jane Morrow"
    after_indirect = _statements(
        "Paul Kerr, director of the London team at Savills, said the influx of buyers was "
        "continuing. \"From an investor's standpoint, London looks attractive, as prices "
        'appear lower than last year."'
    )
    assert _about(after_indirect, "influx").normalized == "Paul Kerr"
    quote = _about(after_indirect, "standpoint")
    assert quote.normalized == "Paul Kerr" and quote.direct and quote.resolved
    # a sentence of the article's own in between: the quotation is nobody's we know
    apart = _statements(
        "Paul Kerr said the influx of buyers was continuing. The bank opened its first London "
        'office in 1990. "London looks attractive to many investors from abroad this year."'
    )
    assert not [s for s in apart if "attractive" in s.statement]


def test_a_quotation_before_a_cue_with_its_own_clause_belongs_to_the_earlier_speaker():
    found = _statements(
        '"A huge tree fell on them when the rains began," an eyewitness told the BBC.\n\n'
        '"Most of them are students. We are trying to save those who are trapped." Fire '
        "Service spokesman Mr Anaglate told AFP that 18 students had died at the scene."
    )
    students = _about(found, "Most of them")
    assert students.paragraph == 2 and students.normalized == "eyewitness"
    assert _about(found, "18 students").normalized == "Mr Anaglate"


def test_an_indefinite_description_is_the_named_speaker_that_follows():
    found = _statements(
        'One Ohio lawmaker said there was little debate about the clause. "It was not '
        'something that was talked about on the floor," Ohio state Sen. Mary Collins told '
        "reporters."
    )
    debate = _about(found, "little debate")
    assert debate.speaker == "One Ohio lawmaker" and debate.normalized == "Mary Collins"


def test_an_organisation_introduced_by_a_description_is_named_with_it_as_role():
    (s,) = _statements(
        "The French news agency AFP said an IMF employee suffered burns to her hands and face "
        "while opening a letter."
    )
    assert s.normalized == "AFP" and s.role == "French news agency"


def test_according_to_inside_a_quotation_is_the_quoted_speakers_words():
    found = _statements(
        'Hundreds of medical groups sent the president a letter. "Claims that vaccines are '
        "unsafe when administered according to expert recommendations have been disproven by "
        'a robust body of literature," the letter read.'
    )
    assert not [s for s in found if s.verb == "according to"]


def test_a_pronoun_no_speaker_precedes_is_the_person_subject_before_it():
    (s,) = _statements(
        'In his homily, Fr Francis Bradley remembered her kindness and her music. "We cannot '
        "allow the brevity of her life, or the malice which cut it short, to spoil her "
        'memory", he said.'
    )
    assert s.speaker == "he" and s.normalized == "Fr Francis Bradley" and s.resolved


def test_a_phrasal_speech_verb_reports_its_clause():
    (s,) = _statements(
        "In its report, the charity points out that the State has the power to introduce "
        "emergency legislation."
    )
    assert s.verb == "point out" and s.normalized == "charity"
    assert s.statement == "the State has the power to introduce emergency legislation"


def test_they_points_to_a_group_never_to_one_named_person():
    person_before = _statements(
        "Finance Minister Anna Kowalska said the budget was final. They said the protests "
        "would continue on Monday."
    )
    protests = _about(person_before, "protests")
    assert protests.normalized == "They" and not protests.resolved
    group_before = _statements(
        "Officials in Athens said the letter had been sent from Greece. Finance Minister Anna "
        "Kowalska said the budget was final. They said the police were still investigating."
    )
    assert _about(group_before, "investigating").normalized == "Officials in Athens"


def test_a_speaker_never_swallows_the_quotation_before_it():
    # a garbled source with no space between the closing mark and the name (as in the
    # NewsArticles archive): the parse runs the name into the quotation's last words
    found = _statements(
        'Rep. Adam Schiff spoke on Tuesday. "We have not interviewed a single witness or '
        'reviewed a single document,"?Schiff told reporters.'
    )
    witness = _about(found, "witness")
    assert not any(c in witness.speaker for c in '"?')
    assert witness.normalized == "Adam Schiff"


def test_a_participle_subject_keeps_the_speaker_its_apposition_names():
    """In NewsArticles 2680 the recognizer reads "Visiting Germany" as a place and the
    parser makes it the subject, with "IMF head Christine Lagarde" in apposition."""
    read_news_rows()
    (article,) = [
        a
        for a in iter_articles([ARCHIVE], LoadReport(), FieldMap.parse(NEWS_FIELDS))
        if a.id == "2680"
    ]
    (found,), _ = extract_articles([article], SETTINGS)
    violence = _about(found, "cowardly act of violence")
    assert violence.normalized == "Christine Lagarde" and violence.role == "IMF head"
    assert not [s for s in found if "Visiting" in s.normalized]


def test_an_article_that_lost_its_paragraph_breaks_is_read_in_pieces():
    # a short first paragraph, then one of 8,000+ characters: an article whose source lost
    # its breaks after the first line, as one in ten of NewsArticles is
    filler = "The council met on Tuesday to discuss the harbour budget and the new ferry. " * 60
    text = (
        "Harbour news from Lowmarsh.\n\n"
        + filler
        + '"We will not raise the fares this year," said Anna Kowalska, the harbour master. '
        + filler
        + "Mayor Tom Reed warned that the ferry could be delayed until the spring."
    )
    first, paragraph = display_paragraphs(text, SETTINGS)
    assert paragraph[1] - paragraph[0] > MAX_PARAGRAPH_CHARS
    found, report = extract_articles([_article(text)], SETTINGS)
    assert report.skipped_paragraphs == 0
    fares, ferry = _about(found[0], "fares"), _about(found[0], "delayed")
    assert fares.normalized == "Anna Kowalska" and ferry.normalized == "Tom Reed"
    for s in found[0]:
        # numbered and offset by the display paragraph, as citations count
        assert s.paragraph == 2
        assert text[paragraph[0] + s.start : paragraph[0] + s.end] == s.statement
        assert text[s.article_start :].startswith(s.statement)


def test_bad_input_is_skipped_and_counted_never_raised():
    unbalanced = 'The mayor said "the budget is final, and that is that.\n\nNo one "objected.'
    spanning = '"This is the first part of a quote\n\nand this the second," the mayor said.'
    russian = "«Переговоры продолжатся на следующей неделе», — заявил министр журналистам."
    huge = _article("The spokesman said the plan works. " * (MAX_ARTICLE_CHARS // 30), "big")
    dump = _article('He said "' + "x" * 6000 + '".', "dump")
    articles = [
        _article(unbalanced, "u"),
        _article(spanning, "s"),
        _article(russian, "r"),
        huge,
        dump,
    ]
    found, report = extract_articles(articles, SETTINGS)
    assert len(found) == 5
    assert report.skipped_articles == 1 and found[3] == []
    assert report.skipped_paragraphs >= 2  # the Russian paragraph and the word dump
    assert found[2] == [] and found[4] == []
    for article, statements in zip(articles, found):
        for s in statements:
            assert article.text[s.article_start :].startswith(s.statement)


def _rows(news_rows):
    return [r for r in news_rows if "ryabkov" in r["text"].lower()][:6] + [
        r for r in news_rows if int(r["article_id"]) % 211 == 0
    ][:6]


def test_statements_follow_their_articles_through_update_removal_and_compaction(
    news_rows, tmp_path, embedder, build_options
):
    rows = _rows(news_rows)
    root = tmp_path / "index"
    base = write_csv(rows[:-2], tmp_path / "base.csv")
    result = build_index([SEED, base], root, embedder, build_options)
    assert result.timings["statements"] > 0
    idx = ArchiveIndex.open(root)
    n0, speakers0 = idx.store.statement_counts()
    info = idx.info()
    assert (info.statements, info.speakers) == (n0, speakers0) and n0 > 10
    assert info.statements_note is None
    seed_id = idx.store.find_statements(speaker="Ryabkov")[0].article_id
    idx.close()

    # a delta: two new articles; their statements appear over base + delta
    added = write_csv(rows[-2:], tmp_path / "added.csv")
    incremental = replace(build_options, compact_fraction=100.0)
    upd = update_index(root, embedder, add=[added], options=incremental)
    assert not upd.compacted
    idx = ArchiveIndex.open(root)
    n1, _ = idx.store.statement_counts()
    new_ids = {r["article_id"] for r in rows[-2:]}
    in_new = [s for s in idx.store.find_statements() if s.article_id in new_ids]
    assert n1 == n0 + len(in_new)
    idx.close()

    # removing a base article hides its statements through the tombstones
    upd = update_index(root, embedder, remove=[seed_id], options=incremental)
    assert not upd.compacted
    idx = ArchiveIndex.open(root)
    assert not [s for s in idx.store.find_statements() if s.article_id == seed_id]
    n2, _ = idx.store.statement_counts()
    assert n2 < n1
    idx.close()

    # compaction keeps exactly the live statements
    upd = update_index(root, embedder, options=replace(build_options, compact=True))
    assert upd.compacted
    idx = ArchiveIndex.open(root)
    assert idx.store.statement_counts()[0] == n2
    idx.close()


def test_an_index_built_before_statements_answers_and_says_how_to_get_them(
    news_index, tmp_path, embedder, build_options
):
    from index import layout

    root = tmp_path / "old"
    shutil.copytree(news_index, root, symlinks=True)
    build = layout.current_build(root)
    store = build / "store.sqlite"
    store.chmod(0o644)
    with sqlite3.connect(store) as con:
        con.execute("DROP TABLE statements")
    # the manifest's checksum of the store no longer holds: skip checksums, as an old
    # index's manifest would simply not list statements
    import json

    mpath = build / "manifest.json"
    m = json.loads(mpath.read_text())
    m["annotations"].pop("statements")
    mpath.chmod(0o644)
    mpath.write_text(json.dumps(m))
    idx = ArchiveIndex.open(root, verify_checksums=False)
    info = idx.info()
    assert info.statements == 0 and "update --compact" in info.statements_note
    assert idx.store.find_statements(speaker="Ryabkov") == []
    idx.close()
