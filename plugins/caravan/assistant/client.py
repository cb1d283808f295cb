"""The OpenAI client the assistant uses (chat and embeddings), built from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import openai

    from caravan.settings import Settings


def openai_client(settings: Settings) -> openai.OpenAI:
    """The OpenAI client for the configured key and endpoint (OPENAI_BASE_URL: any
    OpenAI-compatible server); the client retries 429 and 5xx with the server's hints."""
    import openai

    return openai.OpenAI(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        max_retries=4,
        timeout=120.0,
    )
