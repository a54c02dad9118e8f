"""A five-token request before the first issue, so a wrong key or a dead server is a clear message at once
instead of an ERROR on every issue."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from awm.errors import UserError
from awm.model.client import completion_kwargs, describe_fault, import_litellm

if TYPE_CHECKING:
    from awm.spec import LLMSpec

ATTEMPTS = 3  # a connection reset or a server still starting is asked again
RETRY_WAIT_S = 1.0


def check_model(llm: LLMSpec) -> None:
    """Raise a UserError (field `llm`) when the model refuses the key, is unreachable or unknown."""
    litellm = import_litellm()
    kwargs = completion_kwargs(llm, messages=[{"role": "user", "content": "Reply with OK."}], max_tokens=5,
                               num_retries=0, timeout=30)
    for name in ("temperature", "top_p", "reasoning_effort"):
        kwargs.pop(name, None)
    source = f"{llm.source}: " if llm.source != "inline" else ""
    unreachable = UserError(f"{source}the model {llm.model} is unreachable at {llm.base_url or 'its default address'}."
                            " Start the server or correct `base_url`, then run again.", field="llm")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            litellm.completion(**kwargs)
            return
        except litellm.AuthenticationError:
            raise _key_refused(llm, source) from None
        except (litellm.APIConnectionError, litellm.Timeout, litellm.InternalServerError) as exc:
            if isinstance(exc, litellm.InternalServerError) and "connection" not in str(exc).lower():
                return  # the server answered: the run itself will see what is wrong
            if attempt == ATTEMPTS:  # one reset or slow start is not a dead server: asked again, then refused
                raise unreachable from None
            time.sleep(RETRY_WAIT_S)
        except litellm.NotFoundError:
            raise UserError(f"{source}the provider does not know the model {llm.model}. Check `model` (litellm "
                            "naming, e.g. openai/gpt-4o or anthropic/claude-sonnet-4-5).", field="llm") from None
        except litellm.BadRequestError as exc:
            if "LLM Provider NOT provided" in str(exc):
                raise UserError(f"{source}litellm cannot tell the provider of `{llm.model}`. Prefix the model with "
                                "its provider, e.g. openai/NAME for an OpenAI-compatible server.", field="llm") from None
            if describe_fault(exc).startswith("the model refused the API key"):
                raise _key_refused(llm, source) from None
            return
        except Exception as exc:  # noqa: BLE001 - rate limits, odd parameters: left to the run itself, but not a 401
            if describe_fault(exc).startswith("the model refused the API key"):  # however the provider words it
                raise _key_refused(llm, source) from None
            return


def _key_refused(llm: LLMSpec, source: str) -> UserError:
    key = f"the variable {llm.api_key_env}" if llm.api_key_env else "the api_key of the config.toml table"
    return UserError(f"{source}the model {llm.model} refused the API key. Check that {key} holds a valid key for "
                     "this provider.", field="llm")
