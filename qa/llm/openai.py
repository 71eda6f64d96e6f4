"""Any OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server, OpenAI) as the
generator, through langchain-openai: the same chain, another chat model."""

from __future__ import annotations

from langchain_core.language_models.chat_models import BaseChatModel

from qa.errors import OpenAISettingsError
from qa.settings import Settings


def openai_chat_model(settings: Settings) -> BaseChatModel:
    """`ChatOpenAI` from the settings; greedy decoding and a bounded answer length."""
    if not settings.openai_model:
        raise OpenAISettingsError(
            "ARCHIVE_QA_GENERATOR=openai needs ARCHIVE_QA_OPENAI_MODEL (and usually "
            "ARCHIVE_QA_OPENAI_BASE_URL, e.g. http://127.0.0.1:8080/v1)"
        )
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=settings.openai_model,
        base_url=settings.openai_base_url,
        # Local servers accept any key; the client insists on one being set.
        api_key=settings.openai_api_key.get_secret_value()
        if settings.openai_api_key
        else "not-needed",
        temperature=0.0,
        max_tokens=settings.llm_max_tokens,
        timeout=settings.openai_timeout,
        max_retries=1,
    )
