"""The one place where the spec's model settings become client arguments: litellm completion arguments (induction,
the model check), the OpenHands SDK's `LLM` (the agent), and the completion function induction calls.

litellm and the SDK are imported only when a client is made: they take seconds to import."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from awm import demo

if TYPE_CHECKING:
    from awm.spec import LLMSpec

# The spec's optional settings passed through as they are, when set.
_PASSED = ("base_url", "api_version", "temperature", "top_p", "timeout", "custom_llm_provider", "reasoning_effort")


def setup_environment() -> None:
    """Environment the model and agent stack need before they are imported: no price-table fetch, no banner."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("OPENHANDS_SUPPRESS_BANNER", "1")


def import_litellm():
    """litellm, configured: no price-table fetch, no help banners on stdout."""
    setup_environment()
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def model_name(llm: LLMSpec) -> str:
    """The name litellm is given: the scripted demo model is an OpenAI-compatible server."""
    return "openai/" + llm.model if demo.is_scripted(llm.model) else llm.model


def api_key(llm: LLMSpec) -> str | None:
    # OpenAI-compatible local servers still want a bearer token
    return llm.api_key or ("none" if llm.base_url else None)


def completion_kwargs(llm: LLMSpec, **overrides: Any) -> dict[str, Any]:
    """Arguments for `litellm.completion` (messages excluded)."""
    kwargs: dict[str, Any] = {"model": model_name(llm), "num_retries": llm.num_retries}
    for name in _PASSED:
        value = getattr(llm, name)
        if value is not None:
            kwargs[name] = value
    if llm.max_output_tokens:
        kwargs["max_tokens"] = llm.max_output_tokens
    kwargs["api_key"] = api_key(llm)
    kwargs.update(overrides)
    return kwargs


def sdk_llm(llm: LLMSpec, usage_id: str):
    """The OpenHands SDK's `LLM` for the agent."""
    setup_environment()
    from openhands.sdk import LLM
    from pydantic import SecretStr

    kwargs: dict[str, Any] = {"usage_id": usage_id, "model": model_name(llm), "num_retries": llm.num_retries}
    for name in (*_PASSED, "max_output_tokens", "input_cost_per_token", "output_cost_per_token"):
        value = getattr(llm, name)
        if value is not None:
            kwargs[name] = value
    key = api_key(llm)
    if key:
        kwargs["api_key"] = SecretStr(key)
    if llm.temperature is not None and llm.reasoning_effort is None:
        kwargs["capability_overrides"] = {"supports_reasoning_effort": False}
    if llm.num_retries == 0:
        kwargs["retry_min_wait"] = 0
        kwargs["retry_max_wait"] = 0
    return LLM(**kwargs)


@dataclass
class Completion:
    text: str
    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


Complete = Callable[[list[dict]], Completion]


def completer(llm: LLMSpec) -> Complete:
    """A Complete that calls the run's model through litellm (the same naming the agent uses), with its cost
    (the spec's prices if given, else litellm's table) and tokens."""

    def complete(messages: list[dict]) -> Completion:
        litellm = import_litellm()
        response = litellm.completion(messages=messages, **completion_kwargs(llm))
        text = response.choices[0].message.content or ""
        usage = getattr(response, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        if llm.input_cost_per_token is not None or llm.output_cost_per_token is not None:
            cost = prompt_tokens * (llm.input_cost_per_token or 0) + completion_tokens * (
                llm.output_cost_per_token or 0)
        else:
            try:
                cost = float(litellm.completion_cost(completion_response=response) or 0.0)
            except Exception:  # noqa: BLE001 - unknown models have no price
                cost = 0.0
        return Completion(text, cost, prompt_tokens, completion_tokens)

    return complete


_FAULTS = (  # (what the provider's answer means, signs of it in the error's class name or text)
    ("the model refused the API key", ("authenticationerror", "status 401", "error code: 401", "'code': 401",
                                       "invalid api key", "incorrect api key", "invalid_api_key", "unauthorized")),
    ("the model refused access with this key", ("permissiondeniederror", "error code: 403", "status 403")),
    ("the provider does not know this model or address", ("notfounderror", "error code: 404", "model_not_found")),
    ("the model's rate limit or quota was hit", ("ratelimiterror", "error code: 429", "rate limit", "quota")),
    ("the conversation no longer fits the model's context window", ("contextwindowexceeded",
                                                                   "context length", "context_length_exceeded")),
    ("the model did not answer in time", ("timeout", "timed out")),
    ("the model could not be reached", ("apiconnectionerror", "connection refused", "connection error",
                                        "serviceunavailable", "name or service not known")),
)


def describe_fault(fault: BaseException | str) -> str:
    """A model fault in words (what the provider's answer means), then the raw error's first line: a 401 that
    litellm reports as "BadRequestError ... invalid api key" reads "the model refused the API key (...)"."""
    if isinstance(fault, BaseException):
        first = str(fault).strip().splitlines()[0] if str(fault).strip() else ""
        raw = f"{type(fault).__name__}: {first}".rstrip(": ")
        status = getattr(fault, "status_code", None)
    else:
        raw, status = (fault.strip().splitlines() or [""])[0], None
    lowered = f"{raw} status {status}".lower()
    for meaning, signs in _FAULTS:
        if any(sign in lowered for sign in signs) and not raw.startswith(meaning):
            return f"{meaning} ({raw})"[:500]
    return raw[:500]
