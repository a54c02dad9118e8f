"""A five-token request before the first issue, so a wrong key or a dead server is a clear message at once
instead of an ERROR on every issue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from awm.errors import UserError
from awm.model.client import completion_kwargs, import_litellm

if TYPE_CHECKING:
    from awm.spec import LLMSpec


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
    try:
        litellm.completion(**kwargs)
    except litellm.AuthenticationError:
        key = f"the variable {llm.api_key_env}" if llm.api_key_env else "the api_key of the config.toml table"
        raise UserError(f"{source}the model {llm.model} refused the API key. Check that {key} holds a valid key "
                        "for this provider.", field="llm") from None
    except (litellm.APIConnectionError, litellm.Timeout):
        raise unreachable from None
    except litellm.InternalServerError as exc:
        if "connection" in str(exc).lower():
            raise unreachable from None
    except litellm.NotFoundError:
        raise UserError(f"{source}the provider does not know the model {llm.model}. Check `model` (litellm naming, "
                        "e.g. openai/gpt-4o or anthropic/claude-sonnet-4-5).", field="llm") from None
    except litellm.BadRequestError as exc:
        if "LLM Provider NOT provided" in str(exc):
            raise UserError(f"{source}litellm cannot tell the provider of `{llm.model}`. Prefix the model with its "
                            "provider, e.g. openai/NAME for an OpenAI-compatible server.", field="llm") from None
        if "api key" in str(exc).lower() or "api_key" in str(exc).lower():
            key = f"the variable {llm.api_key_env}" if llm.api_key_env else "the api_key of the config.toml table"
            raise UserError(f"{source}the model {llm.model} refused the API key. Check that {key} holds a valid "
                            "key for this provider.", field="llm") from None
    except Exception:  # noqa: BLE001 - anything else (rate limits, odd parameters) is left to the run itself
        pass
