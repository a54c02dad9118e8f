"""What the scripted model does on each minibench instance: the tool calls, in order.

A script is {"match": text found only in its problem statement, "outcome": "right" | "wrong",
"category": the kind of bug (induction groups by it), "steps": [{"tool", "args", "thought"?}]}.
"right" scripts make a real fix; "wrong" ones a plausible edit that leaves tests failing.
`{repo}` in any argument stands for the repository path the server finds in the first user message.
"""

from __future__ import annotations


def _step(tool: str, args: dict, thought: str | None = None) -> dict:
    step = {"tool": tool, "args": args}
    if thought:
        step["thought"] = thought
    return step


def sh(command: str, thought: str | None = None) -> dict:
    return _step("terminal", {"command": command}, thought)


def view(path: str, thought: str | None = None) -> dict:
    return _step("file_editor", {"command": "view", "path": "{repo}/" + path}, thought)


def edit(path: str, old: str, new: str, thought: str | None = None) -> dict:
    args = {"command": "str_replace", "path": "{repo}/" + path, "old_str": old, "new_str": new}
    return _step("file_editor", args, thought)


def think(thought: str) -> dict:
    return _step("think", {"thought": thought})


def finish(message: str) -> dict:
    return _step("finish", {"message": message})


SCRIPTS: dict[str, dict] = {
    "awm-bench__tallyho-1": {
        "match": "every number ending in 4 comes out with four I's",
        "outcome": "right",
        "category": "incomplete lookup table",
        "steps": [
            sh('grep -n "_NUMERALS" -A 5 {repo}/tallyho/roman.py', "Let me look at the table to_roman walks through."),
            sh(
                'cd {repo} && python -c "from tallyho.roman import to_roman; print(to_roman(4), to_roman(1994))"',
                "Reproduce the issue first.",
            ),
            think("The table has subtractive pairs for 900, 400, 90, 40 and 9 but none for 4, so 4 becomes four ones."),
            edit(
                "tallyho/roman.py",
                '(10, "X"), (9, "IX"), (5, "V"), (1, "I"),',
                '(10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),',
                "Add the missing (4, 'IV') pair.",
            ),
            sh("cd {repo} && python -m pytest -q tests/test_roman.py", "Run the roman tests."),
            finish('Added the missing (4, "IV") entry to the numeral table; to_roman(4) is now "IV".'),
        ],
    },
    "awm-bench__tallyho-2": {
        "match": "some come out with several dashes in a row",
        "outcome": "right",
        "category": "string normalisation",
        "steps": [
            view("tallyho/text.py", "Let me read slugify."),
            edit(
                "tallyho/text.py",
                '    cleaned = re.sub(r"[^a-z0-9]", " ", ascii_text.lower()).strip()\n'
                '    return cleaned.replace(" ", separator)',
                '    return separator.join(re.findall(r"[a-z0-9]+", ascii_text.lower()))',
                "Every non-alphanumeric character becomes its own separator. Join the alphanumeric runs instead.",
            ),
            sh("cd {repo} && python -m pytest -q tests/test_text.py"),
            finish("slugify now joins runs of letters and digits with a single separator."),
        ],
    },
    "awm-bench__tallyho-3": {
        "match": "One KiB should print as `1.0 KiB`",
        "outcome": "wrong",
        "category": "off-by-one boundary",
        "steps": [
            sh(
                'cd {repo} && python -c "from tallyho.numfmt import human_size; print(human_size(1024))"',
                "Reproduce.",
            ),
            sh("sed -n 1,25p {repo}/tallyho/numfmt.py"),
            edit(
                "tallyho/numfmt.py",
                '        raise ValueError("size cannot be negative")\n    size = float(num_bytes)',
                '        raise ValueError("size cannot be negative")\n'
                "    if num_bytes == 1024:\n"
                '        return "1.0 KiB"\n'
                "    size = float(num_bytes)",
                "1024 bytes falls through as plain bytes; handle one KiB explicitly.",
            ),
            finish('human_size(1024) now returns "1.0 KiB".'),
        ],
    },
    "awm-bench__tallyho-4": {
        "match": "it just went backwards after we released 1.10.0",
        "outcome": "right",
        "category": "comparison ordering",
        "steps": [
            sh('grep -n "def _key" -A 7 {repo}/tallyho/semver.py', "Find how versions are turned into sort keys."),
            think("The regex groups are strings, so '10' sorts before '9'. The key must hold integers."),
            edit(
                "tallyho/semver.py",
                'return (major, minor, patch), prerelease or ""',
                'return (int(major), int(minor), int(patch)), prerelease or ""',
            ),
            sh(
                "cd {repo} && python -c \"from tallyho.semver import newest; print(newest(['1.9.0', '1.10.0']))\"",
                "Check the example from the issue.",
            ),
            finish("Version parts are compared as integers now, so 1.10.0 is newer than 1.9.0."),
        ],
    },
    "awm-bench__tallyho-5": {
        "match": 'The docstring even lists "1h30m"',
        "outcome": "right",
        "category": "parsing edge case",
        "steps": [
            sh("cat {repo}/tallyho/duration.py"),
            sh(
                'cd {repo} && python -c "from tallyho.duration import parse_duration; print(parse_duration(\'1h30m\'))"',
                "Reproduce: only the first part is counted.",
            ),
            edit(
                "tallyho/duration.py",
                "    match = _PART.match(cleaned)\n"
                "    if match is None:\n"
                '        raise ValueError(f"not a duration: {text!r}")\n'
                "    return int(match.group(1)) * _UNITS[match.group(2)]",
                '    if not re.fullmatch(r"(\\d+\\s*[dhms]\\s*)+", cleaned):\n'
                '        raise ValueError(f"not a duration: {text!r}")\n'
                "    return sum(int(count) * _UNITS[unit] for count, unit in _PART.findall(cleaned))",
                "Validate the whole string, then add up every number-unit part.",
            ),
            sh("cd {repo} && python -m pytest -q tests/test_duration.py"),
            finish("parse_duration sums all parts (1h30m -> 5400) and rejects trailing text."),
        ],
    },
    "awm-bench__tallyho-6": {
        "match": "the hottest key in our app keeps getting evicted",
        "outcome": "right",
        "category": "stale state update",
        "steps": [
            view("tallyho/lru.py"),
            edit(
                "tallyho/lru.py",
                "            return default\n        return self._entries[key]",
                "            return default\n        self._entries.move_to_end(key)\n        return self._entries[key]",
                "get never updates the recency order. Move the key to the most recent end when it is read.",
            ),
            finish("LRUCache.get now marks the entry as most recently used."),
        ],
    },
    "awm-bench__tallyho-7": {
        "match": "which broke our database connection string",
        "outcome": "wrong",
        "category": "parsing edge case",
        "steps": [
            sh('grep -n "split" {repo}/tallyho/inifile.py'),
            think("split('=') cuts values containing '='. Splitting once, from the right, keeps the value in one piece."),
            edit("tallyho/inifile.py", 'fields = line.split("=")', 'fields = line.rsplit("=", 1)'),
            finish("Lines are now split only once, so values keep their '=' characters."),
        ],
    },
    "awm-bench__tallyho-8": {
        "match": "`parse_qs` gives the plus signs back literally",
        "outcome": "right",
        "category": "string normalisation",
        "steps": [
            sh(
                'cd {repo} && python -c "from tallyho.querystring import parse_qs; print(parse_qs(\'q=hello+world\'))"',
                "Reproduce.",
            ),
            sh('grep -n "unquote" {repo}/tallyho/querystring.py'),
            edit(
                "tallyho/querystring.py",
                "from urllib.parse import quote_plus, unquote\n",
                "from urllib.parse import quote_plus, unquote_plus\n",
                "build_qs encodes with quote_plus, so parse_qs must decode with unquote_plus.",
            ),
            edit(
                "tallyho/querystring.py",
                "result.setdefault(unquote(key), []).append(unquote(value))",
                "result.setdefault(unquote_plus(key), []).append(unquote_plus(value))",
            ),
            sh("cd {repo} && python -m pytest -q tests/test_querystring.py"),
            finish("parse_qs decodes '+' as a space, matching build_qs."),
        ],
    },
    "awm-bench__tallyho-9": {
        "match": 'Both functions are documented as "both included"',
        "outcome": "right",
        "category": "off-by-one boundary",
        "steps": [
            sh('grep -n "range(" {repo}/tallyho/dateranges.py', "Look at the loop bounds in iter_days."),
            edit(
                "tallyho/dateranges.py",
                "for offset in range((end - start).days):",
                "for offset in range((end - start).days + 1):",
                "range() excludes its stop value, so the end day is never produced.",
            ),
            sh(
                "cd {repo} && python -c \"from datetime import date; from tallyho.dateranges import count_weekdays; "
                'print(count_weekdays(date(2024, 1, 1), date(2024, 1, 5)))"',
                "Monday to Friday should now give 5.",
            ),
            finish("iter_days (and so count_weekdays) now includes the end day."),
        ],
    },
    "awm-bench__tallyho-10": {
        "match": "a pre-release has lower precedence than the associated normal version",
        "outcome": "wrong",
        "category": "comparison ordering",
        "steps": [
            sh("sed -n 1,30p {repo}/tallyho/semver.py"),
            think("The pre-release tag is what makes 1.0.0-rc.1 compare above 1.0.0. Compare on the numbers only."),
            edit(
                "tallyho/semver.py",
                'return (int(major), int(minor), int(patch)), prerelease or ""',
                'return (int(major), int(minor), int(patch)), ""',
            ),
            finish("Pre-release tags no longer make a version compare newer than its release."),
        ],
    },
    "awm-bench__tallyho-11": {
        "match": "to fit labels into fixed-width table columns",
        "outcome": "right",
        "category": "off-by-one boundary",
        "steps": [
            view("tallyho/text.py"),
            sh(
                'cd {repo} && python -c "from tallyho.text import truncate; print(repr(truncate(\'hello world\', 8)))"',
                "Reproduce.",
            ),
            edit(
                "tallyho/text.py",
                "    return text[:width] + ellipsis",
                "    if width <= len(ellipsis):\n"
                "        return ellipsis[:width]\n"
                "    return text[: width - len(ellipsis)] + ellipsis",
                "The ellipsis is added on top of `width` characters; reserve room for it instead.",
            ),
            sh("cd {repo} && python -m pytest -q tests/test_text.py"),
            finish("truncate now keeps the result, ellipsis included, within `width` characters."),
        ],
    },
    "awm-bench__tallyho-12": {
        "match": "Chapter numbers in our documents are written in lower case",
        "outcome": "right",
        "category": "string normalisation",
        "steps": [
            sh('grep -n "def from_roman" -A 6 {repo}/tallyho/roman.py'),
            edit(
                "tallyho/roman.py",
                "    text = text.strip()\n",
                "    text = text.strip().upper()\n",
                "The lookup table only has upper-case letters; normalise the input's case first.",
            ),
            finish("from_roman accepts lower- and mixed-case numerals."),
        ],
    },
    "awm-bench__tallyho-13": {
        "match": "writes to an existing key still leave it at its old position",
        "outcome": "wrong",
        "category": "stale state update",
        "steps": [
            sh("cat {repo}/tallyho/lru.py"),
            edit(
                "tallyho/lru.py",
                "        self._entries[key] = value\n        if len(self._entries) > self.capacity:",
                "        if key in self._entries:\n"
                "            self._entries.move_to_end(key, last=False)\n"
                "        self._entries[key] = value\n"
                "        if len(self._entries) > self.capacity:",
                "An update should move the existing key, like popitem(last=False) does for eviction.",
            ),
            finish("put now moves an existing key when it is updated."),
        ],
    },
    "awm-bench__tallyho-14": {
        "match": "Files written by Windows tools use `;` for comments",
        "outcome": "right",
        "category": "parsing edge case",
        "steps": [
            sh('grep -n "startswith" {repo}/tallyho/inifile.py', "How are comment lines recognised?"),
            edit(
                "tallyho/inifile.py",
                'if not line or line.startswith("#"):',
                'if not line or line.startswith(("#", ";")):',
                "Only '#' is treated as a comment marker; accept ';' as well.",
            ),
            sh("cd {repo} && python -m pytest -q tests/test_inifile.py"),
            finish("Lines starting with ';' are now skipped as comments."),
        ],
    },
}
