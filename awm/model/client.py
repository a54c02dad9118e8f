"""The one place where the spec's model settings become client arguments: litellm completion arguments (induction,
the model check), the OpenHands SDK's `LLM` (the agent), and the completion function induction calls.

litellm and the SDK are imported only when a client is made: they take seconds to import."""

from __future__ import annotations

import contextvars
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from awm import demo

if TYPE_CHECKING:
    from awm.spec import LLMSpec

# The spec's optional settings passed through as they are, when set.
_PASSED = ("base_url", "api_version", "temperature", "top_p", "timeout", "custom_llm_provider", "reasoning_effort")


def setup_environment() -> None:
    """Environment the model and agent stack need before they are imported: no price-table fetch, no banner."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("OPENHANDS_SUPPRESS_BANNER", "1")


class _Retrying(Protocol):
    """A function decorated by tenacity's retry (what the SDK's retry_decorator gives)."""

    def retry_with(self, *args: Any, **kwargs: Any) -> Callable[..., Any]: ...


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


class ModelCallStopped(Exception):
    """A model call given up before the model answered: the issue's time ran out, or a stop was asked for. Not an
    error the SDK retries: the agent's step ends at once with it."""

    def __init__(self, reason: str, waited: float):
        self.reason, self.waited = reason, waited
        what = "the issue's time limit" if reason == "timeout" else "a stop request"
        super().__init__(f"the model did not answer before {what} ({reason} after {waited:.1f} s waiting on the model)")


class CallBound(Protocol):
    """What bounds one issue's model calls (awm.agent.limits.Guard): `check()` is "" while calls may go on, else why
    not ("timeout", "cancelled"); `deadline` a time.monotonic() (the issue's wall-clock end); the counters are the
    bound's to read."""

    deadline: float
    model_calls: int  # calls the model answered
    in_model_call: bool  # a call is waiting on the model now

    def check(self) -> str: ...


POLL_S = 0.1  # how soon a bounded call sees its bound trip


def remaining_timeout(timeout: float | None, deadline: float, now: float | None = None) -> float:
    """A model attempt's timeout: the spec's (None: no limit of its own), never past the issue's deadline (at least
    a second: an HTTP client takes no timeout of 0; the bound itself gives the call up at the deadline)."""
    left = deadline - (time.monotonic() if now is None else now)
    return max(1.0, min(left, float(timeout)) if timeout else left)


def bounded_call(call: Callable[[], Any], bound: CallBound) -> Any:
    """`call()` in a thread of its own, waited for only while `bound.check()` is "": when it trips, ModelCallStopped
    is raised within POLL_S whatever the call does. The abandoned thread is a daemon that ends when its call does
    (its HTTP timeout is bounded by the deadline); its late answer, or error, is dropped."""
    reason = bound.check()
    if reason:
        raise ModelCallStopped(reason, 0.0)
    box: dict[str, Any] = {}
    done = threading.Event()

    context = contextvars.copy_context()  # the SDK's per-call context (its metrics and telemetry read it)

    def work() -> None:
        try:
            box["value"] = context.run(call)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    started = time.monotonic()
    bound.in_model_call = True
    try:
        threading.Thread(target=work, daemon=True, name="awm-model-call").start()
        while not done.wait(POLL_S):
            reason = bound.check()
            if reason:
                raise ModelCallStopped(reason, time.monotonic() - started)
    finally:
        bound.in_model_call = False
    if "error" in box:
        raise box["error"]
    bound.model_calls += 1
    return box["value"]


def bounded_sleep(bound: CallBound, seconds: float) -> None:
    """The wait between two attempts of a model call (the SDK's retries), cut short when the bound trips. It is part
    of waiting on the model: a limit that falls here finds the model not answering (`in_model_call`)."""
    end = time.monotonic() + seconds
    bound.in_model_call = True
    try:
        while True:
            reason = bound.check()
            if reason:
                raise ModelCallStopped(reason, 0.0)
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(POLL_S, left))
    finally:
        bound.in_model_call = False


class _Shared:
    """A bound held by an LLM: the SDK deep-copies its LLM (and so its private attributes) where it likes; every
    copy must share the one bound (a copied cancel Event would never be set)."""

    def __init__(self, bound: CallBound):
        self.bound = bound

    def __copy__(self) -> _Shared:
        return self

    def __deepcopy__(self, memo: dict) -> _Shared:
        return self


_BOUND_LLM: dict[str, type] = {}


def _bound_llm_class() -> type:
    """The SDK's LLM whose every attempt is bounded by a CallBound: its HTTP timeout never runs past the issue's
    deadline, the wait is given up when the bound trips (bounded_call), and so is the SDK's wait between retries."""
    if "cls" in _BOUND_LLM:
        return _BOUND_LLM["cls"]
    from openhands.sdk import LLM
    from pydantic import PrivateAttr

    class BoundLLM(LLM):
        _bound: Any = PrivateAttr(default=None)  # a _Shared

        def _transport_call(self, **kwargs: Any) -> Any:
            bound = self._bound.bound if self._bound is not None else None
            if bound is None:
                return super()._transport_call(**kwargs)
            kwargs["timeout"] = remaining_timeout(self.timeout, bound.deadline)
            return bounded_call(lambda: LLM._transport_call(self, **kwargs), bound)

        def retry_decorator(self, *args: Any, **kwargs: Any) -> Callable:
            decorate = super().retry_decorator(*args, **kwargs)
            bound = self._bound.bound if self._bound is not None else None
            if bound is None:
                return decorate
            # The SDK annotates the decorated function as a plain callable; it is tenacity's wrapper, which has
            # retry_with (a copy with other settings: here, a sleep that gives up at the deadline).
            return lambda fn: cast(_Retrying, decorate(fn)).retry_with(
                sleep=lambda seconds: bounded_sleep(bound, seconds))

    _BOUND_LLM["cls"] = BoundLLM
    return BoundLLM


def sdk_llm(llm: LLMSpec, usage_id: str, bound: CallBound | None = None):
    """The OpenHands SDK's `LLM` for the agent; with a `bound` (the issue's Guard), no model call or retry outlives
    the issue's deadline or a stop request by more than POLL_S (bounded_call)."""
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
    if bound is None:
        return LLM(**kwargs)
    made = _bound_llm_class()(**kwargs)
    made._bound = _Shared(bound)
    return made


def approx_tokens(text: str) -> int:
    """About four characters a token: the count where no tokenizer is loaded (tests, and litellm's failures)."""
    return len(text) // 4 + 1 if text else 0


def count_tokens(text: str, model: str) -> int:
    """Tokens of `text` with the model's tokenizer (litellm's token_counter; a model it does not know gets its
    default tokenizer); the estimate if litellm fails."""
    if not text:
        return 0
    try:
        return int(import_litellm().token_counter(model=model, text=text))
    except Exception:  # noqa: BLE001 - counting must never stop a run
        return approx_tokens(text)


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


class EmbeddingFault(Exception):
    """The embedding model failed: its call raised (after the client's own retries), or its vectors are unusable
    (NaN or infinite values, sizes that differ, too few vectors). The message names the model and the fault."""


def check_vectors(vectors: Any, texts: int, dims: int | None, model: str = "") -> list[list[float]]:
    """`vectors` as lists of floats, or EmbeddingFault: one per text, all finite, all of one size (`dims` when
    given: the size of the ones before)."""
    name = f"the embedding model {model}" if model else "the embedding model"
    try:
        out = [[float(x) for x in vector] for vector in vectors]
    except (TypeError, ValueError) as exc:
        raise EmbeddingFault(f"{name} answered something that is not a list of vectors of numbers ({exc})") from None
    if len(out) != texts:
        raise EmbeddingFault(f"{name} gave {len(out)} vectors for {texts} texts")
    if not out:
        return out
    sizes = sorted({len(v) for v in out})
    if sizes == [0]:
        raise EmbeddingFault(f"{name} gave empty vectors")
    if len(sizes) > 1:
        raise EmbeddingFault(f"{name} gave vectors of different sizes ({', '.join(map(str, sizes))}) in one answer")
    if dims is not None and sizes[0] != dims:
        raise EmbeddingFault(f"{name} gave vectors of size {sizes[0]}, and {dims} before: a wrongly sized vector "
                             "cannot be compared")
    bad = sum(1 for v in out if not all(math.isfinite(x) for x in v))
    if bad:
        raise EmbeddingFault(f"{name} gave {bad} of {len(out)} vector(s) with NaN or infinite values")
    return out


_FAULTS = (  # (what the provider's answer means, signs of it in the error's class name or text)
    ("the model refused the API key", ("authenticationerror", "status 401", "error code: 401", "'code': 401",
                                       "invalid api key", "incorrect api key", "invalid_api_key", "unauthorized")),
    ("the model refused access with this key", ("permissiondeniederror", "error code: 403", "status 403")),
    ("the provider does not know this model or address", ("notfounderror", "error code: 404", "model_not_found")),
    ("the model's rate limit or quota was hit", ("ratelimiterror", "error code: 429", "rate limit", "quota")),
    ("the conversation no longer fits the model's context window", ("contextwindowexceeded",
                                                                   "context length", "context_length_exceeded")),
    ("the model did not answer in time", ("timeout", "timed out")),
    ("the model's reply held no answer (an empty `choices` list)", ("'choices': []", '"choices": []', "choices=[]",
                                                                     "list index out of range")),
    ("the model could not be reached", ("apiconnectionerror", "connection refused", "connection error",
                                        "serviceunavailable", "name or service not known")),
)


def is_model_fault(text: str) -> bool:
    """Whether an error's text comes from the model's side: one of the faults describe_fault names, or an error
    of the model client."""
    lowered = text.lower()
    return (any(sign in lowered for _, signs in _FAULTS for sign in signs)
            or any(word in lowered for word in ("the model ", "api key", "litellm", "openai", "llm", "badrequesterror",
                                                "internalservererror")))


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
            return f"{meaning} ({_head(raw)})"
    return _head(raw, 500)


def _head(text: str, limit: int = 200) -> str:
    """An error's first `limit` characters: a provider's raw reply quoted whole (1,500 characters) is noise."""
    return text if len(text) <= limit else text[:limit].rstrip() + " …"
