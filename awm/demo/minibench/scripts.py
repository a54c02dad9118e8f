"""What the scripted model does on each minibench instance: the tool calls, in order.

A script is a dict:
- "match": text found only in its problem statement (how the server knows the instance);
- "category": the kind of bug (induction groups by it; the learner recognises memory of it), one of CATEGORIES;
- "right": steps that make the real fix;
- "naive": the fix the model makes with no useful memory: plausible, a non-empty patch; for `naive_wrong` instances
  it leaves at least one FAIL_TO_PASS test failing, for the others it is the right fix;
- "naive_wrong": bool; "distractible": bool (a workflow of another category in the prompt derails it);
- "distracted" (distractible instances): the wrong fix it makes when derailed (the naive one where that is wrong,
  otherwise an edit of its own);
- "outcome" ("right" | "wrong") and "steps": what the replay model `scripted/demo` plays, whatever its prompt.
A step is {"tool", "args", "thought"?}. `{repo}` in any argument stands for the repository path the server finds
in the first user message.

Instances run in id order (awm.dataset sorts builtin instances by their number), and each category's first
instance (1 to 6) has a naive fix that works, so its workflow can be learned before the category's naive_wrong
instances come. Naive fix wrong: 12 of 24 (two per category). Distractible: 8 of 24 (a third).
"""

from __future__ import annotations

CATEGORIES = (
    "incomplete lookup table",
    "string normalisation",
    "off-by-one boundary",
    "comparison ordering",
    "parsing edge case",
    "stale state update",
)


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


def pytest(test_file: str, thought: str | None = None) -> dict:
    return sh(f"cd {{repo}} && python -m pytest -q {test_file}", thought)


def _script(match: str, category: str, *, outcome: str, right: list[dict], naive: list[dict] | None = None,
            distracted: list[dict] | None = None, steps: list[dict] | None = None) -> dict:
    """`naive` None: the naive fix is the right one. `steps` None: the replay plays `right` if the outcome is
    "right", else `naive`. `distracted` given: the instance is distractible (None and naive_wrong: it is not)."""
    assert category in CATEGORIES, category
    naive_wrong = naive is not None
    script = {
        "match": match,
        "category": category,
        "outcome": outcome,
        "steps": steps if steps is not None else (right if outcome == "right" else naive),
        "right": right,
        "naive": naive if naive_wrong else right,
        "naive_wrong": naive_wrong,
        "distractible": distracted is not None,
    }
    if distracted is not None:
        script["distracted"] = distracted
    return script


SCRIPTS: dict[str, dict] = {}

# 1 -------------------------------------------------------------------------------------------------------------
_right = [
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
]
SCRIPTS["awm-bench__tallyho-1"] = _script(
    "every number ending in 4 comes out with four I's", "incomplete lookup table", outcome="right", right=_right)

# 2 -------------------------------------------------------------------------------------------------------------
_right = [
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
]
SCRIPTS["awm-bench__tallyho-2"] = _script(
    "some come out with several dashes in a row", "string normalisation", outcome="right", right=_right)

# 3 -------------------------------------------------------------------------------------------------------------
_replay = [
    sh('cd {repo} && python -c "from tallyho.numfmt import human_size; print(human_size(1024))"', "Reproduce."),
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
]
_right = [
    sh('cd {repo} && python -c "from tallyho.numfmt import human_size; print(human_size(1024), human_size(1023))"',
       "Reproduce, with the value just below the limit too."),
    sh('grep -n "1024" {repo}/tallyho/numfmt.py', "Find the comparison that decides when to switch units."),
    edit(
        "tallyho/numfmt.py",
        "if size <= 1024 or unit",
        "if size < 1024 or unit",
        "At exactly 1024 the loop must move on to the next unit: the bound is exclusive.",
    ),
    pytest("tests/test_numfmt.py"),
    finish("human_size switches to the next unit at exactly 1024: 1024 -> 1.0 KiB, 1024**2 -> 1.0 MiB."),
]
SCRIPTS["awm-bench__tallyho-3"] = _script(
    "One KiB should print as `1.0 KiB`", "off-by-one boundary", outcome="wrong", right=_right, steps=_replay)

# 4 -------------------------------------------------------------------------------------------------------------
_right = [
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
]
SCRIPTS["awm-bench__tallyho-4"] = _script(
    "it just went backwards after we released 1.10.0", "comparison ordering", outcome="right", right=_right)

# 5 -------------------------------------------------------------------------------------------------------------
_right = [
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
]
SCRIPTS["awm-bench__tallyho-5"] = _script(
    'The docstring even lists "1h30m"', "parsing edge case", outcome="right", right=_right)

# 6 -------------------------------------------------------------------------------------------------------------
_right = [
    view("tallyho/lru.py"),
    edit(
        "tallyho/lru.py",
        "            return default\n        return self._entries[key]",
        "            return default\n        self._entries.move_to_end(key)\n        return self._entries[key]",
        "get never updates the recency order. Move the key to the most recent end when it is read.",
    ),
    finish("LRUCache.get now marks the entry as most recently used."),
]
SCRIPTS["awm-bench__tallyho-6"] = _script(
    "the hottest key in our app keeps getting evicted", "stale state update", outcome="right", right=_right)

# 7 -------------------------------------------------------------------------------------------------------------
_naive = [
    sh('grep -n "split" {repo}/tallyho/inifile.py'),
    think("split('=') cuts values containing '='. Splitting once, from the right, keeps the value in one piece."),
    edit("tallyho/inifile.py", 'fields = line.split("=")', 'fields = line.rsplit("=", 1)'),
    finish("Lines are now split only once, so values keep their '=' characters."),
]
_right = [
    sh('grep -n "split" {repo}/tallyho/inifile.py', "How is a key = value line split?"),
    sh(
        "cd {repo} && python -c \"from tallyho.inifile import parse_ini; "
        "print(parse_ini('url = postgres://db/app?sslmode=require'))\"",
        "Reproduce with a value that contains '='.",
    ),
    think("The key never contains '=', the value may: split at the FIRST '=' only, and keep the rest as the value."),
    edit(
        "tallyho/inifile.py",
        'fields = line.split("=")\n        key, value = fields[0].strip(), fields[1].strip()',
        'key, _, value = line.partition("=")\n        key, value = key.strip(), value.strip()',
    ),
    pytest("tests/test_inifile.py"),
    finish("parse_ini splits each line at the first '=' only, so values keep every '=' they contain."),
]
SCRIPTS["awm-bench__tallyho-7"] = _script(
    "which broke our database connection string", "parsing edge case", outcome="wrong", right=_right, naive=_naive)

# 8 -------------------------------------------------------------------------------------------------------------
_right = [
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
]
_naive = [
    sh("cat {repo}/tallyho/querystring.py", "Let me see how both directions encode spaces."),
    think("build_qs writes spaces as '+', which parse_qs does not undo. Encoding spaces as %20 makes the two agree."),
    edit(
        "tallyho/querystring.py",
        "from urllib.parse import quote_plus, unquote\n",
        "from urllib.parse import quote, unquote\n",
    ),
    edit(
        "tallyho/querystring.py",
        'pairs.append(f"{quote_plus(key)}={quote_plus(value)}")',
        'pairs.append(f"{quote(key)}={quote(value)}")',
    ),
    finish("build_qs now encodes spaces as %20, so parse_qs(build_qs(...)) round-trips."),
]
SCRIPTS["awm-bench__tallyho-8"] = _script(
    "`parse_qs` gives the plus signs back literally", "string normalisation", outcome="right", right=_right,
    naive=_naive, distracted=_naive)

# 9 -------------------------------------------------------------------------------------------------------------
_right = [
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
]
_naive = [
    sh('grep -n "def count_weekdays" -A 3 {repo}/tallyho/dateranges.py', "Look at count_weekdays."),
    edit(
        "tallyho/dateranges.py",
        "return sum(1 for day in iter_days(start, end) if day.weekday() < 5)",
        "return sum(1 for day in iter_days(start, end + timedelta(days=1)) if day.weekday() < 5)",
        "count_weekdays misses the last day; extend the range it counts by one day.",
    ),
    finish("count_weekdays now counts the end day: Monday to Friday gives 5."),
]
SCRIPTS["awm-bench__tallyho-9"] = _script(
    'Both functions are documented as "both included"', "off-by-one boundary", outcome="right", right=_right,
    naive=_naive)

# 10 ------------------------------------------------------------------------------------------------------------
_naive = [
    sh("sed -n 1,30p {repo}/tallyho/semver.py"),
    think("The pre-release tag is what makes 1.0.0-rc.1 compare above 1.0.0. Compare on the numbers only."),
    edit(
        "tallyho/semver.py",
        'return (int(major), int(minor), int(patch)), prerelease or ""',
        'return (int(major), int(minor), int(patch)), ""',
    ),
    finish("Pre-release tags no longer make a version compare newer than its release."),
]
_right = [
    sh('grep -n "def _key" -A 7 {repo}/tallyho/semver.py', "Find the sort key."),
    think("A release has an empty pre-release string, which sorts BEFORE any tag. The key needs a field that puts "
          "'no pre-release' after every pre-release, and only then the tag."),
    edit(
        "tallyho/semver.py",
        'return (int(major), int(minor), int(patch)), prerelease or ""',
        'return (int(major), int(minor), int(patch)), (prerelease is None, prerelease or "")',
    ),
    pytest("tests/test_semver.py"),
    finish("A release now sorts after its pre-releases: compare('1.0.0-rc.1', '1.0.0') == -1."),
]
SCRIPTS["awm-bench__tallyho-10"] = _script(
    "a pre-release has lower precedence than the associated normal version", "comparison ordering", outcome="wrong",
    right=_right, naive=_naive)

# 11 ------------------------------------------------------------------------------------------------------------
_right = [
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
]
_naive = [
    sh('cd {repo} && python -c "from tallyho.text import truncate; print(repr(truncate(\'hello world\', 8)))"',
       "Reproduce."),
    edit(
        "tallyho/text.py",
        "    return text[:width] + ellipsis",
        "    return text[:width - 1] + ellipsis",
        "The result is one character too long: keep one character less to make room for the ellipsis.",
    ),
    finish("truncate('hello world', 8) now returns 'hello w…'."),
]
SCRIPTS["awm-bench__tallyho-11"] = _script(
    "to fit labels into fixed-width table columns", "off-by-one boundary", outcome="right", right=_right,
    naive=_naive, distracted=_naive)

# 12 ------------------------------------------------------------------------------------------------------------
_right = [
    sh('grep -n "def from_roman" -A 6 {repo}/tallyho/roman.py'),
    edit(
        "tallyho/roman.py",
        "    text = text.strip()\n",
        "    text = text.strip().upper()\n",
        "The lookup table only has upper-case letters; normalise the input's case first.",
    ),
    finish("from_roman accepts lower- and mixed-case numerals."),
]
_distracted = [
    sh('grep -n "_VALUES" {repo}/tallyho/roman.py', "Which letters does the numeral table know?"),
    edit(
        "tallyho/roman.py",
        '_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}',
        '_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000, "i": 1, "v": 5, "x": 10}',
        "The table is missing the lower-case letters from the issue; add their entries.",
    ),
    finish('from_roman("xiv") is now 14.'),
]
SCRIPTS["awm-bench__tallyho-12"] = _script(
    "Chapter numbers in our documents are written in lower case", "string normalisation", outcome="right",
    right=_right, distracted=_distracted)

# 13 ------------------------------------------------------------------------------------------------------------
_naive = [
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
]
_right = [
    sh('grep -n "def \\|move_to_end\\|popitem" {repo}/tallyho/lru.py', "Which operations update the recency order?"),
    think("get moves a key to the most recent end with move_to_end(key); put only does so for new keys, because "
          "assigning to an existing key of an OrderedDict keeps its position."),
    edit(
        "tallyho/lru.py",
        "        self._entries[key] = value\n        if len(self._entries) > self.capacity:",
        "        if key in self._entries:\n"
        "            self._entries.move_to_end(key)\n"
        "        self._entries[key] = value\n"
        "        if len(self._entries) > self.capacity:",
        "Mark an updated key as most recently used, the same way get does.",
    ),
    pytest("tests/test_lru.py"),
    finish("put on an existing key now makes it the most recently used entry."),
]
SCRIPTS["awm-bench__tallyho-13"] = _script(
    "writes to an existing key still leave it at its old position", "stale state update", outcome="wrong",
    right=_right, naive=_naive)

# 14 ------------------------------------------------------------------------------------------------------------
_right = [
    sh('grep -n "startswith" {repo}/tallyho/inifile.py', "How are comment lines recognised?"),
    edit(
        "tallyho/inifile.py",
        'if not line or line.startswith("#"):',
        'if not line or line.startswith(("#", ";")):',
        "Only '#' is treated as a comment marker; accept ';' as well.",
    ),
    sh("cd {repo} && python -m pytest -q tests/test_inifile.py"),
    finish("Lines starting with ';' are now skipped as comments."),
]
_distracted = [
    view("tallyho/inifile.py", "Let me see how each line is cleaned before it is parsed."),
    edit(
        "tallyho/inifile.py",
        "        line = raw.strip()\n",
        '        line = raw.strip().lstrip(";").strip()\n',
        "Normalise each line first: drop the leading ';' that Windows tools write.",
    ),
    finish("parse_ini strips a leading ';' from each line before parsing it."),
]
SCRIPTS["awm-bench__tallyho-14"] = _script(
    "Files written by Windows tools use `;` for comments", "parsing edge case", outcome="right", right=_right,
    distracted=_distracted)

# 15 ------------------------------------------------------------------------------------------------------------
_right = [
    sh('cd {repo} && python -c "from tallyho.numfmt import ordinal; print([ordinal(n) for n in (11, 12, 13, 113)])"',
       "Reproduce with the reported value and its neighbours."),
    sh('grep -n "_SUFFIXES\\|_TEENS" {repo}/tallyho/numfmt.py', "Find the tables ordinal looks suffixes up in."),
    think("_TEENS lists the exceptions to the 1st/2nd/3rd suffixes, and 13 is missing from it, so every number "
          "ending in 13 (13, 113, 2013) gets 'rd'."),
    edit(
        "tallyho/numfmt.py",
        "_TEENS = (11, 12)  # the exceptions to _SUFFIXES: 11th, 12th",
        "_TEENS = (11, 12, 13)  # the exceptions to _SUFFIXES: 11th, 12th, 13th",
        "Complete the table of exceptions.",
    ),
    pytest("tests/test_numfmt.py"),
    finish("13 is now in the table of exceptions: 13th, 113th, 2013th."),
]
_naive = [
    sh('cd {repo} && python -c "from tallyho.numfmt import ordinal; print(ordinal(13))"', "Reproduce."),
    edit(
        "tallyho/numfmt.py",
        "    if number % 100 in _TEENS:",
        "    if number % 100 in _TEENS or number == 13:",
        "13 should end in 'th' like 11 and 12.",
    ),
    finish("ordinal(13) now returns '13th'."),
]
SCRIPTS["awm-bench__tallyho-15"] = _script(
    "thirteenth place comes out with the wrong suffix", "incomplete lookup table", outcome="wrong", right=_right,
    naive=_naive)

# 16 ------------------------------------------------------------------------------------------------------------
_right = [
    view("tallyho/tally.py", "Which operations keep `total` up to date?"),
    sh(
        "cd {repo} && python -c \"from tallyho.tally import Tally; t = Tally(['yes', 'yes', 'no']); "
        "t.remove('yes'); print(t['yes'], t.total)\"",
        "Reproduce.",
    ),
    edit(
        "tallyho/tally.py",
        "        else:\n            self._counts.pop(item, None)\n",
        "        else:\n            self._counts.pop(item, None)\n        self.total -= taken\n",
        "add() updates the total but remove() does not. Subtract what was actually taken away.",
    ),
    pytest("tests/test_tally.py"),
    finish("Tally.remove now keeps `total` equal to the sum of the counts."),
]
SCRIPTS["awm-bench__tallyho-16"] = _script(
    "its `total` still counts them", "stale state update", outcome="right", right=_right)

# 17 ------------------------------------------------------------------------------------------------------------
_right = [
    sh('grep -n "def merge_ranges" -A 9 {repo}/tallyho/dateranges.py', "How are the ranges ordered before merging?"),
    think("The merge walks the ranges expecting each to start no earlier than the previous one, but it sorts them "
          "by their END (r[1]). The key must be the start."),
    edit(
        "tallyho/dateranges.py",
        "for start, end in sorted(ranges, key=lambda r: r[1]):",
        "for start, end in sorted(ranges):",
        "Sort by start (then end): tuples compare field by field.",
    ),
    pytest("tests/test_dateranges.py"),
    finish("merge_ranges sorts the ranges by start before merging, so the input order no longer matters."),
]
_distracted = [
    sh('grep -n "def merge_ranges" -A 9 {repo}/tallyho/dateranges.py'),
    edit(
        "tallyho/dateranges.py",
        "            merged[-1] = (merged[-1][0], max(merged[-1][1], end))",
        "            merged[-1] = (min(merged[-1][0], start), max(merged[-1][1], end))",
        "When a range is merged, only its end is updated; keep its start up to date too.",
    ),
    finish("merge_ranges now extends a merged range's start as well as its end."),
]
SCRIPTS["awm-bench__tallyho-17"] = _script(
    "Our booking system lists ranges in the order they were created", "comparison ordering", outcome="right",
    right=_right, distracted=_distracted)

# 18 ------------------------------------------------------------------------------------------------------------
_right = [
    sh('cd {repo} && python -c "from tallyho.text import slugify; print(slugify(\'Straße Łódź Ærøskøbing\'))"',
       "Reproduce with the text from the issue."),
    sh('grep -n "normalize" {repo}/tallyho/text.py', "Where is the text turned into ASCII?"),
    think("NFKD splits accented letters into a letter and an accent, but ß, Ł, Æ, Ø, Œ, Đ and Þ have no such "
          "decomposition, so encode('ascii', 'ignore') drops them. Spell them out before normalising."),
    edit(
        "tallyho/text.py",
        'def slugify(text: str, separator: str = "-") -> str:',
        "# Letters that Unicode does not decompose into an ASCII letter and accents, spelled in ASCII.\n"
        "_ASCII_LETTERS = str.maketrans({\n"
        '    "ß": "ss", "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "Œ": "OE", "œ": "oe",\n'
        '    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Þ": "TH", "þ": "th",\n'
        "})\n\n\n"
        'def slugify(text: str, separator: str = "-") -> str:',
    ),
    edit(
        "tallyho/text.py",
        'unicodedata.normalize("NFKD", text)',
        'unicodedata.normalize("NFKD", text.translate(_ASCII_LETTERS))',
    ),
    pytest("tests/test_text.py"),
    finish("slugify spells ß, Æ, Ø, Œ, Ł, Đ and Þ in ASCII before dropping accents: 'Łódź' -> 'lodz'."),
]
_naive = [
    sh('cd {repo} && python -c "from tallyho.text import slugify; print(slugify(\'Straße\'))"', "Reproduce."),
    edit(
        "tallyho/text.py",
        'unicodedata.normalize("NFKD", text)',
        'unicodedata.normalize("NFKD", text.casefold())',
        "casefold() spells ß as 'ss'; apply it before the ASCII conversion.",
    ),
    finish("slugify casefolds the text first, so 'Straße' becomes 'strasse'."),
]
SCRIPTS["awm-bench__tallyho-18"] = _script(
    "some letters vanish from the slug", "string normalisation", outcome="wrong", right=_right, naive=_naive)

# 19 ------------------------------------------------------------------------------------------------------------
_right = [
    sh('cd {repo} && python -c "from tallyho.duration import format_duration; print(format_duration(1209600))"',
       "Reproduce the formatting half."),
    sh('grep -n "_UNITS\\|_PART\\|dhms" {repo}/tallyho/duration.py', "Find every place that lists the units."),
    think("Two tables list the units: the _UNITS dict (format_duration walks it in order, largest first) and the "
          "regex character class. Weeks go first in the dict and into the class."),
    edit(
        "tallyho/duration.py",
        '_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}',
        '_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}',
    ),
    edit(
        "tallyho/duration.py",
        '_PART = re.compile(r"(\\d+)\\s*([dhms])")',
        '_PART = re.compile(r"(\\d+)\\s*([wdhms])")',
    ),
    pytest("tests/test_duration.py"),
    finish("Weeks are a unit in both directions: parse_duration('2w') == 1209600, format_duration(1209600) == '2w'."),
]
_naive = [
    sh("cat {repo}/tallyho/duration.py"),
    edit(
        "tallyho/duration.py",
        '_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}',
        '_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "w": 604800}',
        "Add weeks to the unit table.",
    ),
    edit(
        "tallyho/duration.py",
        '_PART = re.compile(r"(\\d+)\\s*([dhms])")',
        '_PART = re.compile(r"(\\d+)\\s*([dhmsw])")',
    ),
    finish("parse_duration now accepts weeks ('2w')."),
]
SCRIPTS["awm-bench__tallyho-19"] = _script(
    "lists `w` (weeks) among the units", "incomplete lookup table", outcome="right", right=_right, naive=_naive)

# 20 ------------------------------------------------------------------------------------------------------------
_right = [
    sh('grep -n "start" {repo}/tallyho/dateranges.py | head -20', "Where does parse_range check the order of the ends?"),
    sh('cd {repo} && python -c "from tallyho.dateranges import parse_range; print(parse_range(\'2024-02-29..2024-02-29\'))"',
       "Reproduce with the boundary value."),
    edit(
        "tallyho/dateranges.py",
        "    if end <= start:\n",
        "    if end < start:\n",
        "Ranges include both ends, so end == start is one day: only an end before the start is an error.",
    ),
    pytest("tests/test_dateranges.py"),
    finish("parse_range accepts a one-day range (end == start)."),
]
_distracted = [
    view("tallyho/dateranges.py", "Let me read parse_range."),
    edit(
        "tallyho/dateranges.py",
        '    if not separator:\n        raise ValueError(f"expected START..END, got {text!r}")',
        "    if not separator:\n        end_text = start_text",
        "Accept the single-day variant of the input: a date without '..' is a one-day range.",
    ),
    finish("parse_range accepts a single date as a one-day range."),
]
SCRIPTS["awm-bench__tallyho-20"] = _script(
    "only the exact limit, where the end day is the start day", "off-by-one boundary", outcome="right", right=_right,
    distracted=_distracted)

# 21 ------------------------------------------------------------------------------------------------------------
_right = [
    sh('grep -n "partition\\|strip" {repo}/tallyho/inifile.py', "How is the value taken from a line?"),
    sh(
        "cd {repo} && python -c \"from tallyho.inifile import parse_ini; print(parse_ini('name = \\\"My App\\\"'))\"",
        "Reproduce with a quoted value.",
    ),
    think("Only a value that starts and ends with the SAME quote character is quoted; quotes inside a value, or a "
          "quote at one end only, are part of the value. Remove exactly one pair."),
    edit(
        "tallyho/inifile.py",
        "        key, value = key.strip(), value.strip()\n",
        "        key, value = key.strip(), value.strip()\n"
        "        if len(value) >= 2 and value[0] == value[-1] and value[0] in \"\\\"'\":\n"
        "            value = value[1:-1]\n",
    ),
    pytest("tests/test_inifile.py"),
    finish("parse_ini removes one pair of matching quotes around a value, keeping what is inside as written."),
]
_naive = [
    sh('grep -n "value.strip" {repo}/tallyho/inifile.py'),
    edit(
        "tallyho/inifile.py",
        "        key, value = key.strip(), value.strip()\n",
        "        key, value = key.strip(), value.strip().strip(\"\\\"'\")\n",
        "Strip the quote characters off the value along with the spaces.",
    ),
    finish("Quoted values lose their quotes."),
]
SCRIPTS["awm-bench__tallyho-21"] = _script(
    "the line parser only handles the plain `key = value` form", "parsing edge case", outcome="right",
    right=_right, naive=_naive, distracted=_naive)

# 22 ------------------------------------------------------------------------------------------------------------
_right = [
    sh('grep -n "def _key" -A 7 {repo}/tallyho/semver.py', "Find the sort key."),
    think("semver.org item 11: split the pre-release at dots; numeric identifiers compare as numbers and sort "
          "before alphanumeric ones; a shorter list of identifiers sorts first. Mixing int and str in one tuple "
          "slot would raise, so tag each identifier with its kind."),
    edit(
        "tallyho/semver.py",
        '(prerelease is None, prerelease or "")',
        "(prerelease is None, _identifiers(prerelease))",
    ),
    edit(
        "tallyho/semver.py",
        "def compare(a: str, b: str) -> int:",
        "def _identifiers(prerelease: str | None) -> tuple:\n"
        '    """Pre-release identifiers as semver.org orders them: numbers numerically and before words."""\n'
        "    if not prerelease:\n"
        "        return ()\n"
        '    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in prerelease.split("."))\n'
        "\n\n"
        "def compare(a: str, b: str) -> int:",
    ),
    pytest("tests/test_semver.py"),
    finish("Pre-release identifiers are ordered as semver.org says: rc.2 < rc.10, alpha.1 < alpha.beta."),
]
_naive = [
    sh('grep -n "def _key" -A 7 {repo}/tallyho/semver.py'),
    edit(
        "tallyho/semver.py",
        '(prerelease is None, prerelease or "")',
        '(prerelease is None, tuple(int(part) if part.isdigit() else part for part in (prerelease or "").split(".")))',
        "Compare the numeric parts of the pre-release tag as numbers.",
    ),
    finish("rc.10 now sorts after rc.2."),
]
SCRIPTS["awm-bench__tallyho-22"] = _script(
    "The numbers in pre-release tags are compared as strings", "comparison ordering", outcome="wrong", right=_right,
    naive=_naive)

# 23 ------------------------------------------------------------------------------------------------------------
_right = [
    sh('grep -n "def \\|popitem\\|capacity" {repo}/tallyho/lru.py', "Which operations keep the size within capacity?"),
    think("put evicts a single entry when one insertion goes over; resize can leave the cache many entries over, "
          "so it must evict in a loop until the size fits."),
    edit(
        "tallyho/lru.py",
        "        self.capacity = capacity\n\n    def keys(self) -> list:",
        "        self.capacity = capacity\n"
        "        while len(self._entries) > self.capacity:\n"
        "            self._entries.popitem(last=False)\n\n"
        "    def keys(self) -> list:",
    ),
    pytest("tests/test_lru.py"),
    finish("resize evicts least recently used entries until the cache fits its new capacity."),
]
_naive = [
    view("tallyho/lru.py"),
    edit(
        "tallyho/lru.py",
        "        self.capacity = capacity\n\n    def keys(self) -> list:",
        "        self.capacity = capacity\n"
        "        if len(self._entries) > self.capacity:\n"
        "            self._entries.popitem(last=False)\n\n"
        "    def keys(self) -> list:",
        "Evict the least recently used entry when the new capacity is exceeded, as put does.",
    ),
    finish("resize now evicts when the cache is over its new capacity."),
]
SCRIPTS["awm-bench__tallyho-23"] = _script(
    "LRUCache.resize() doesn't evict anything", "stale state update", outcome="right", right=_right, naive=_naive,
    distracted=_naive)

# 24 ------------------------------------------------------------------------------------------------------------
_right = [
    sh('cd {repo} && python -c "from tallyho.numfmt import human_size; print(human_size(1024**5))"', "Reproduce."),
    sh('grep -n "_UNITS" {repo}/tallyho/numfmt.py', "Find the table of units."),
    edit(
        "tallyho/numfmt.py",
        '_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"]',
        '_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]',
        "The table ends at TiB; add PiB and EiB, in order.",
    ),
    pytest("tests/test_numfmt.py"),
    finish("human_size goes up to EiB: 1024**5 -> 1.0 PiB."),
]
SCRIPTS["awm-bench__tallyho-24"] = _script(
    "Our storage dashboard shows petabyte-sized volumes in tebibytes", "incomplete lookup table", outcome="right",
    right=_right)

del _right, _naive, _distracted, _replay
