"""A small INI reader: [sections], key = value pairs and comment lines."""

from __future__ import annotations


def parse_ini(text: str) -> dict[str, dict[str, str]]:
    """Parse INI text into {section: {key: value}}.

    Keys are lower-cased, values are kept as written (minus surrounding spaces); a value in matching double
    or single quotes loses the quotes, which lets it keep leading or trailing spaces.
    Keys that come before any [section] go in the "" section.
    Blank lines and comment lines are skipped.
    """
    sections: dict[str, dict[str, str]] = {"": {}}
    current = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            sections.setdefault(current, {})
            continue
        if "=" not in line:
            raise ValueError(f"line {number}: expected 'key = value', got {raw!r}")
        fields = line.split("=")
        key, value = fields[0].strip(), fields[1].strip()
        sections[current][key.lower()] = value
    return sections


def get_bool(sections: dict[str, dict[str, str]], section: str, key: str, default: bool = False) -> bool:
    """Read a yes/no setting: true/false, yes/no, on/off or 1/0, in any case."""
    value = sections.get(section, {}).get(key.lower())
    if value is None:
        return default
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"[{section}] {key}: not a boolean: {value!r}")
