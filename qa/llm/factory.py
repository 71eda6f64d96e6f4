"""Generators by name: the registry behind `ARCHIVE_QA_GENERATOR`.

A generator is anything that turns the settings into a LangChain chat model (or into
None, for the extractive answerer that needs no model). The built-in ones register
here; another backend registers itself the same way and is then selectable by name in
the settings, the CLI's `--generator` and the service, with no if/elif to extend.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from qa.errors import UnknownGeneratorError

if TYPE_CHECKING:  # kept light: the settings check names without loading LangChain
    from langchain_core.language_models.chat_models import BaseChatModel

    from qa.settings import Settings

GeneratorBuilder = Callable[["Settings"], "BaseChatModel | None"]

_REGISTRY: dict[str, GeneratorBuilder] = {}


def register_generator(name: str) -> Callable[[GeneratorBuilder], GeneratorBuilder]:
    """Decorator: make `builder(settings)` the generator called `name`."""

    def add(builder: GeneratorBuilder) -> GeneratorBuilder:
        _REGISTRY[name.strip().lower()] = builder
        return builder

    return add


def generator_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def make_chat_model(settings: Settings) -> BaseChatModel | None:
    """The chat model the settings select (None for the extractive generator).

    A selected local model whose file is missing or damaged raises a clear error that
    says how to get it.
    """
    name = settings.resolved_generator()
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise UnknownGeneratorError(
            f"unknown generator {name!r}; choose one of {', '.join(generator_names())}"
        ) from None
    return builder(settings)


@register_generator("extractive")
def _extractive(settings: Settings) -> None:
    return None


@register_generator("local")
def _local(settings: Settings) -> BaseChatModel:
    from qa.llm.fetch import check_model_file
    from qa.llm.local import LocalChatModel

    check_model_file(settings.llm_model_file)
    return LocalChatModel(
        model_path=settings.llm_model_file,
        n_ctx=settings.llm_ctx,
        threads=settings.llm_threads or os.cpu_count() or 2,
        max_tokens=settings.llm_max_tokens,
    )


@register_generator("openai")
def _openai(settings: Settings) -> BaseChatModel:
    from qa.llm.openai import openai_chat_model

    return openai_chat_model(settings)
