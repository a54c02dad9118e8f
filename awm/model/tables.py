"""Named model settings from an OpenHands config.toml: the `[llm.NAME]` tables."""

from __future__ import annotations

from pathlib import Path

from awm.errors import UserError

# The config.toml keys a run uses; the rest of an OpenHands table is ignored.
LLM_KEYS = (
    "model", "api_key", "api_key_env", "base_url", "api_version", "temperature", "top_p",
    "max_output_tokens", "input_cost_per_token", "output_cost_per_token", "num_retries",
    "timeout", "reasoning_effort", "custom_llm_provider",
)


def config_candidates(spec_dir: Path) -> list[Path]:
    """Where config.toml is looked for when the spec does not say: next to the spec, here, home."""
    return [spec_dir / "config.toml", Path.cwd() / "config.toml", Path.home() / ".openhands" / "config.toml"]


def find_config(config_path: Path | None, spec_dir: Path) -> Path:
    if config_path is not None:
        path = (spec_dir / config_path.expanduser()).resolve()
        if not path.is_file():
            raise UserError(
                f"the config file {path} does not exist. Fix the path in `llm_config_file`, "
                "or remove that line to search the usual places."
            )
        return path
    candidates = config_candidates(spec_dir)
    for path in candidates:
        if path.is_file():
            return path.resolve()
    searched = ", ".join(str(p) for p in candidates)
    raise UserError(
        f"no config.toml found (searched {searched}). Point to one with `llm_config_file: path/to/config.toml`, "
        "or give the model inline, e.g. `llm: {model: openai/gpt-4o, api_key_env: OPENAI_API_KEY}`."
    )


def seed_config_candidates() -> list[Path]:
    """Where a run without a spec looks for config.toml: here, then home (as OpenHands reads it); no spec folder."""
    return [Path.cwd() / "config.toml", Path.home() / ".openhands" / "config.toml"]


def read_toml(path: Path) -> dict:
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"the config file {path} cannot be read ({exc.strerror}). Check its permissions.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"the config file {path} is not valid TOML: {exc}. Fix the file at that line.") from None


def load_llm_table(name: str, config_path: Path | None, spec_dir: Path) -> tuple[dict, Path]:
    """The `[llm.NAME]` table ("llm.NAME" or "NAME"; "llm" is the plain `[llm]` table) and the file it came from.

    As in OpenHands, a named table inherits the keys of the plain `[llm]` table. Only LLM_KEYS are returned.
    """
    name = name.removeprefix("llm.")
    path = find_config(config_path, spec_dir)
    data = read_toml(path)

    section = data.get("llm", {})
    if not isinstance(section, dict):
        section = {}
    base = {k: v for k, v in section.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in section.items() if isinstance(v, dict)}
    if base and "llm" not in tables:
        tables["llm"] = {}
    if name not in tables:
        if tables:
            have = ", ".join(f"[llm.{n}]" if n != "llm" else "[llm]" for n in tables)
            hint = f"it has {have}. Use one of those names"
        else:
            hint = "it has no [llm.NAME] tables. Add one"
        raise UserError(
            f"there is no table [llm.{name}] in {path}; {hint}, or point to another file with `llm_config_file`."
        )
    merged = {**base, **tables[name]}
    return {k: v for k, v in merged.items() if k in LLM_KEYS}, path
