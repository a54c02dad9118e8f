"""A five-token request before the first issue, so a wrong key or a dead server is a clear message at once
instead of an ERROR on every issue."""

from __future__ import annotations

from awm.errors import UserError
from awm.spec import RunSpec


def check_model(spec: RunSpec) -> None:
    from awm.agent import import_litellm

    litellm = import_litellm()
    llm = spec.llm
    kwargs = {"model": llm.model, "messages": [{"role": "user", "content": "Reply with OK."}], "max_tokens": 5,
              "num_retries": 0, "timeout": 30}
    for name in ("base_url", "api_version", "custom_llm_provider"):
        if getattr(llm, name) is not None:
            kwargs[name] = getattr(llm, name)
    kwargs["api_key"] = llm.api_key or ("none" if llm.base_url else None)
    where = f"{spec.path or '<spec>'}, field `llm` ({llm.source})"
    unreachable = UserError(f"{where}: the model {llm.model} is unreachable at {llm.base_url or 'its default address'}. "
                            "Start the server or correct `base_url`, then run again.")
    try:
        litellm.completion(**kwargs)
    except litellm.AuthenticationError:
        key = f"the variable {llm.api_key_env}" if llm.api_key_env else "the api_key of the config.toml table"
        raise UserError(f"{where}: the model {llm.model} rejected the API key. Check {key} holds a valid key "
                        "for this provider.") from None
    except (litellm.APIConnectionError, litellm.Timeout):
        raise unreachable from None
    except litellm.InternalServerError as exc:
        if "connection" in str(exc).lower():
            raise unreachable from None
    except litellm.NotFoundError:
        raise UserError(f"{where}: the provider does not know the model {llm.model}. Check `model` (litellm "
                        "naming, e.g. openai/gpt-4o or anthropic/claude-sonnet-4-5).") from None
    except litellm.BadRequestError as exc:
        if "LLM Provider NOT provided" in str(exc):
            raise UserError(f"{where}: litellm cannot tell the provider of `{llm.model}`. Prefix the model with "
                            "its provider, e.g. openai/NAME for an OpenAI-compatible server.") from None
    except Exception:  # noqa: BLE001 - anything else (rate limits, odd parameters) is left to the run itself
        pass
