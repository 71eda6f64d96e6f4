"""The Python API: what `import qa` exports, and the product through it on a real index."""

from __future__ import annotations

import pytest
import tomllib
from pydantic import ValidationError

import qa
from tests.helpers import ROOT, SEED_QUESTION


def test_all_names_are_exported_and_in_sync() -> None:
    """`__all__` is exactly the lazily exported names (model: httpx's
    tests/test_exported_members.py), sorted, and each resolves to its defining module."""
    assert qa.__all__ == sorted(qa.__all__)
    assert set(qa.__all__) == set(qa._EXPORTS) | {"__version__"}
    for name, module in qa._EXPORTS.items():
        value = getattr(qa, name)
        assert getattr(__import__(module, fromlist=[name]), name) is value, name
    namespace: dict = {}
    exec("from qa import *", namespace)  # noqa: S102
    assert {n for n in namespace if n != "__builtins__"} == set(qa.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = qa.nope


def test_the_version_is_the_packages() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert qa.__version__ == project["version"]


def test_every_error_is_an_archive_qa_error() -> None:
    from qa import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), qa.ArchiveQAError), name


def test_open_archive_answers_like_the_service(news_index, service) -> None:
    with qa.open_archive(news_index) as archive:
        answer = archive.ask(SEED_QUESTION)
        assert isinstance(answer, qa.Answer) and not answer.refused
        assert "Ryabkov" in answer.citations[0].text
        same = service.ask(SEED_QUESTION)
        assert answer.model_dump(exclude={"timings"}) == same.model_dump(exclude={"timings"})
        # The LangChain Runnable returns the same Answer, from a string or a dict.
        runnable = archive.as_runnable()
        for inputs in (SEED_QUESTION, {"question": SEED_QUESTION}):
            out = runnable.invoke(inputs)
            assert out.model_dump(exclude={"timings"}) == same.model_dump(exclude={"timings"})
        # stream: text pieces, then the Answer last.
        *pieces, last = list(archive.stream(SEED_QUESTION))
        assert pieces and all(isinstance(p, str) for p in pieces) and isinstance(last, qa.Answer)
        # search and the LangChain retriever rank the same paragraphs.
        passages = archive.search(SEED_QUESTION, k=3)
        docs = archive.retriever(k=3).invoke(SEED_QUESTION)
        assert [p.chunk_id for p in passages] == [d.id for d in docs]
        source = archive.info().sources[0][0]
        filtered = archive.search(SEED_QUESTION, k=3, filters=qa.Filters(sources=[source]))
        assert filtered and {p.source for p in filtered} == {source}
        with pytest.raises(qa.QuestionError, match="empty"):
            archive.ask("   ")


def test_open_archive_checks_its_overrides(news_index, tmp_path) -> None:
    with pytest.raises(TypeError, match="unknown settings: bogus"):
        qa.open_archive(news_index, bogus=1)
    with pytest.raises(ValidationError, match="unknown generator 'nope'"):
        qa.open_archive(news_index, generator="nope")
    with pytest.raises(qa.IndexNotFoundError):
        qa.open_archive(tmp_path / "nothing-here")


def test_a_generator_registers_by_name(news_index) -> None:
    """The factory's registry: a new generator is selectable by name with no other change."""
    from qa.llm import factory

    made: list[str] = []

    @qa.register_generator("tests-none")
    def _none(settings):
        made.append(settings.resolved_generator())
        return None  # answers extractively

    try:
        assert "tests-none" in qa.generator_names()
        with qa.open_archive(news_index, generator="tests-none") as archive:
            assert archive.ask(SEED_QUESTION).generator == "extractive"
        assert made == ["tests-none"]
    finally:
        factory._REGISTRY.pop("tests-none")
