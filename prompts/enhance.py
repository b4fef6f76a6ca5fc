"""Prompt enhancement: a pipeline's optional first step asks a chat model to rewrite
each prompt, through any OpenAI-compatible endpoint (POST <PROMPT_LLM_URL>/chat/completions:
OpenAI, or a local Ollama / llama.cpp / vLLM server).

It is a Step of kind prompt_enhance on the generation queue, so the work-queue
engine claims it once, keeps its lease, retries it with backoff and sweeps it
(i2v/lib/workqueue.py). Each rewritten prompt is saved on the step as it comes,
so a retry after a failure carries on where the last run stopped and never asks
(nor pays) twice for a prompt. When all are done the pipeline's prompts are
replaced by them and its first stage is made (Pipeline.advance).
"""

import httpx
from django.conf import settings

from jobs.providers import ProviderError
from jobs.providers.http import client

from .models import PROMPT_MAX_CHARS


def endpoint():
    url = settings.PROMPT_LLM_URL
    return url if url.endswith("/chat/completions") else f"{url}/chat/completions"


def enhance_one(prompt):
    """The model's rewrite of `prompt`; ProviderError (retryable unless no retry can help) otherwise."""
    headers = {"Authorization": f"Bearer {settings.PROMPT_LLM_KEY}"} if settings.PROMPT_LLM_KEY else {}
    payload = {
        "model": settings.PROMPT_LLM_MODEL,
        "messages": [{"role": "system", "content": settings.PROMPT_LLM_INSTRUCTIONS}, {"role": "user", "content": prompt}],
        "temperature": 0.7,
    }
    where = f"The prompt model at {settings.PROMPT_LLM_URL}"
    try:
        # The providers' pooled client: one SSL context per process, connections kept alive.
        response = client().post(endpoint(), json=payload, headers=headers, timeout=settings.PROMPT_LLM_TIMEOUT_SECONDS)
    except httpx.TimeoutException:
        raise ProviderError(f"{where} did not answer within {settings.PROMPT_LLM_TIMEOUT_SECONDS} s.", retryable=True) from None
    except httpx.HTTPError as exc:
        raise ProviderError(f"{where} could not be reached: {exc}.", retryable=True) from None
    if response.status_code != 200:
        # 408, 429 and 5xx pass; any other refusal (a bad key, an unknown model) needs a person.
        retryable = response.status_code in (408, 409, 429) or response.status_code >= 500
        raise ProviderError(f"{where} answered {response.status_code}: {_error_text(response)}", retryable=retryable)
    try:
        text = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ProviderError(f"{where} sent an answer that is not a chat completion.", retryable=True) from None
    text = " ".join(str(text or "").split()).strip().strip('"').strip()
    if not text:
        raise ProviderError(f"{where} answered with an empty prompt.", retryable=True)
    return text[:PROMPT_MAX_CHARS]


def _error_text(response):
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return str(message or response.text or response.reason_phrase)[:200]


def run(step):
    """The work of a claimed prompt_enhance step (jobs/executor.py calls it)."""
    if not settings.PROMPT_LLM_URL:
        raise ProviderError("Prompt enhancement isn't set up on this server any more (PROMPT_LLM_URL).")
    prompts = step.config.get("prompts") or []
    done = list(step.config.get("enhanced") or [])
    for prompt in prompts[len(done) :]:
        step.checkpoint()
        done.append(enhance_one(prompt))
        step.save_enhanced(done, len(prompts))
    return "completed" if step.finish_enhancement(done) else "cancelled"
