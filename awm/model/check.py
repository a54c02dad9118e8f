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
                                "its provider, e.g. openai/NAME for an OpenAI-compatible server.",
                                field="llm") from None
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


EMBEDDING_FIELD = "memory.embedding_model"


def check_embedding_model(model: str, llm: LLMSpec, embed=None) -> int | None:
    """`memory.embedding_model` before the first issue, as check_model checks `llm`: litellm must tell its provider
    (a provider-less name is refused without a call), then one short embedding request (`embed`: a function over a
    list of texts, by default litellm's at `llm`'s address and key, no retries) must give a finite vector. A refused
    key, an unknown model, an unreachable server or unusable vectors raise a UserError (field
    `memory.embedding_model`); a server error is left to the run (its fault treatment, awm.run.loop). Returns the
    vectors' size (the size later answers must have), or None when the probe could not tell."""
    from awm.model.client import EmbeddingFault, api_key, check_vectors

    litellm = import_litellm()
    try:
        litellm.get_llm_provider(model=model, custom_llm_provider=llm.custom_llm_provider)
    except Exception:  # noqa: BLE001 - litellm says it in a BadRequestError; any failure here means the same
        raise UserError(f"litellm cannot tell the provider of the embedding model `{model}`. Prefix it with its "
                        f"provider, e.g. `embedding_model: openai/{model.split('/')[-1]}` for an OpenAI-compatible "
                        "server (embeddings are asked at the address and with the key of `llm`).",
                        field=EMBEDDING_FIELD) from None
    if embed is None:
        kwargs = {"api_key": api_key(llm), "api_base": llm.base_url, "api_version": llm.api_version,
                  "custom_llm_provider": llm.custom_llm_provider, "timeout": 30, "num_retries": 0}
        kwargs = {k: v for k, v in kwargs.items() if v is not None}

        def embed(texts: list[str]) -> list:
            data = litellm.embedding(model=model, input=texts, **kwargs).data
            return [item["embedding"] if isinstance(item, dict) else item.embedding for item in data]
    where = llm.base_url or "its default address"
    for attempt in range(1, ATTEMPTS + 1):
        try:
            vectors = embed(["A short text to check the embedding model."])
        except litellm.AuthenticationError:
            raise _embedding_refused(model, llm, "refused the API key") from None
        except litellm.NotFoundError:
            raise UserError(f"the provider at {where} does not know the embedding model {model}. Check "
                            "`embedding_model` (litellm naming, e.g. openai/text-embedding-3-small).",
                            field=EMBEDDING_FIELD) from None
        except (litellm.APIConnectionError, litellm.Timeout) as exc:
            if attempt == ATTEMPTS:
                raise UserError(f"the embedding model {model} is unreachable at {where} ({describe_fault(exc)}). "
                                "Start the server or correct `llm.base_url`, then run again.",
                                field=EMBEDDING_FIELD) from None
            time.sleep(RETRY_WAIT_S)
            continue
        except Exception as exc:  # noqa: BLE001 - a server error or odd parameters: left to the run, but not a 401
            if describe_fault(exc).startswith("the model refused the API key"):
                raise _embedding_refused(model, llm, "refused the API key") from None
            return None
        try:
            return len(check_vectors(vectors, 1, None, model)[0])
        except EmbeddingFault as fault:
            raise UserError(f"{fault} when checked before the first issue: retrieval by embedding could not rank "
                            "memory with it. Check the model and its server, or use `memory.retrieval: bm25`.",
                            field=EMBEDDING_FIELD) from None
    return None


def _embedding_refused(model: str, llm: LLMSpec, what: str) -> UserError:
    key = f"the variable {llm.api_key_env}" if llm.api_key_env else "the key of `llm`"
    return UserError(f"the embedding model {model} {what}: embeddings are asked with the key of `llm`. Check that "
                     f"{key} holds a valid key for the provider that serves {model}.", field=EMBEDDING_FIELD)
