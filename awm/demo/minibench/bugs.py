"""The tallyho bugs, in upstream order: each is an issue, its fix, and the tests that came with the fix (24 bugs,
six kinds, four of each; the kinds are in scripts.py).

Bug n is fixed in commit n of the built history; its instance starts from commit n-1.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bug:
    title: str  # the fix commit's subject
    created_at: str  # when the issue was opened
    edits: tuple[tuple[str, str, str], ...]  # (path, old, new) applied to source files; old occurs once
    tests: dict[str, str]  # test file -> text appended to it
    problem_statement: str
    hints_text: str = ""


BUGS: list[Bug] = [
    Bug(
        title="roman: write 4 as IV",
        created_at="2024-03-02T09:14:00Z",
        edits=(
            (
                "tallyho/roman.py",
                '(10, "X"), (9, "IX"), (5, "V"), (1, "I"),',
                '(10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),',
            ),
        ),
        tests={
            "tests/test_roman.py": '''

def test_to_roman_4():
    assert to_roman(4) == "IV"


def test_to_roman_1994():
    assert to_roman(1994) == "MCMXCIV"


def test_to_roman_round_trip():
    for number in range(1, 400):
        assert from_roman(to_roman(number)) == number
        assert "IIII" not in to_roman(number)
''',
        },
        problem_statement='''to_roman(4) gives "IIII"

`tallyho.roman.to_roman` handles 9, 40, 90, 400 and 900 with the subtractive form, but every number ending in 4 comes out with four I's:

```python
>>> from tallyho.roman import to_roman
>>> to_roman(4)
'IIII'
>>> to_roman(1994)
'MCMXCIIII'
```

Expected `'IV'` and `'MCMXCIV'`. (Clock faces aside, `IIII` is not a standard numeral.)
''',
    ),
    Bug(
        title="text: collapse runs of punctuation in slugify",
        created_at="2024-03-03T11:02:00Z",
        edits=(
            (
                "tallyho/text.py",
                'cleaned = re.sub(r"[^a-z0-9]", " ", ascii_text.lower()).strip()\n    return cleaned.replace(" ", separator)',
                'cleaned = re.sub(r"[^a-z0-9]+", " ", ascii_text.lower()).strip()\n    return cleaned.replace(" ", separator)',
            ),
        ),
        tests={
            "tests/test_text.py": '''

def test_slugify_punctuation_and_space():
    assert slugify("Hello, World!") == "hello-world"


def test_slugify_repeated_spaces():
    assert slugify("a   b") == "a-b"


def test_slugify_symbols_with_separator():
    assert slugify("Rock & Roll", separator="_") == "rock_roll"
''',
        },
        problem_statement='''slugify produces doubled dashes for titles with punctuation

I'm using `slugify` for blog post URLs and some come out with several dashes in a row:

```python
>>> from tallyho.text import slugify
>>> slugify("Hello, World!")
'hello--world'
>>> slugify("Rock & Roll")
'rock---roll'
```

I expected `'hello-world'` and `'rock-roll'` — one separator between words, whatever was between them in the title.
''',
    ),
    Bug(
        title="numfmt: switch to the next unit at exactly 1024",
        created_at="2024-03-05T08:40:00Z",
        edits=(("tallyho/numfmt.py", "if size <= 1024 or unit", "if size < 1024 or unit"),),
        tests={
            "tests/test_numfmt.py": '''

def test_human_size_exact_kibibyte():
    assert human_size(1024) == "1.0 KiB"


def test_human_size_exact_mebibyte():
    assert human_size(1024**2) == "1.0 MiB"


def test_human_size_just_below_kibibyte():
    assert human_size(1023) == "1023 B"
''',
        },
        problem_statement='''human_size(1024) returns "1024 B"

```python
>>> from tallyho.numfmt import human_size
>>> human_size(1024)
'1024 B'
>>> human_size(1024 * 1024)
'1024.0 KiB'
```

One KiB should print as `1.0 KiB` and one MiB as `1.0 MiB`. Values a little over the limit (e.g. 1536 -> `1.5 KiB`) are fine.
''',
        hints_text="Only exact powers of 1024 seem to be affected.",
    ),
    Bug(
        title="semver: compare version numbers numerically",
        created_at="2024-03-06T16:25:00Z",
        edits=(
            (
                "tallyho/semver.py",
                'return (major, minor, patch), prerelease or ""',
                'return (int(major), int(minor), int(patch)), prerelease or ""',
            ),
        ),
        tests={
            "tests/test_semver.py": '''

def test_compare_two_digit_minor():
    assert compare("1.10.0", "1.9.0") == 1


def test_compare_two_digit_patch():
    assert compare("0.0.2", "0.0.10") == -1


def test_newest_two_digit():
    assert newest(["1.9.0", "1.10.0", "1.2.0"]) == "1.10.0"
''',
        },
        problem_statement='''newest() picks 1.9.0 over 1.10.0

Our release script uses `tallyho.semver.newest` to find the latest tag and it just went backwards after we released 1.10.0:

```python
>>> from tallyho.semver import compare, newest
>>> newest(["1.9.0", "1.10.0"])
'1.9.0'
>>> compare("1.10.0", "1.9.0")
-1
```

Expected `'1.10.0'` and `1`. Versions where every part is a single digit compare fine.
''',
    ),
    Bug(
        title="duration: add up every part of a compound duration",
        created_at="2024-03-08T10:10:00Z",
        edits=(
            (
                "tallyho/duration.py",
                '''    match = _PART.match(cleaned)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]''',
                '''    parts = _PART.findall(cleaned)
    if not parts or _PART.sub("", cleaned).strip():
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(count) * _UNITS[unit] for count, unit in parts)''',
            ),
        ),
        tests={
            "tests/test_duration.py": '''

def test_parse_compound():
    assert parse_duration("1h30m") == 5400


def test_parse_compound_with_spaces():
    assert parse_duration("2d 4h") == 187200


def test_parse_rejects_trailing_words():
    with pytest.raises(ValueError):
        parse_duration("5m later")


def test_format_parse_round_trip():
    for seconds in (1, 59, 61, 3600, 3661, 90061):
        assert parse_duration(format_duration(seconds)) == seconds
''',
        },
        problem_statement='''parse_duration ignores everything after the first unit

```python
>>> from tallyho.duration import parse_duration, format_duration
>>> parse_duration("1h30m")
3600
>>> parse_duration(format_duration(3661))  # format_duration gives "1h1m1s"
3600
```

I expected `5400` and `3661`. The docstring even lists "1h30m" and "2d 4h" as examples. It would also be nice if trailing junk like `"5m later"` raised `ValueError` instead of being silently dropped.
''',
    ),
    Bug(
        title="lru: reading an entry marks it as recently used",
        created_at="2024-03-09T13:45:00Z",
        edits=(
            (
                "tallyho/lru.py",
                '''            return default
        return self._entries[key]''',
                '''            return default
        self._entries.move_to_end(key)
        return self._entries[key]''',
            ),
        ),
        tests={
            "tests/test_lru.py": '''

def test_get_protects_from_eviction():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert "a" in cache
    assert "b" not in cache


def test_get_reorders_keys():
    cache = LRUCache(3)
    for key in "abc":
        cache.put(key, key.upper())
    cache.get("a")
    assert cache.keys() == ["b", "c", "a"]
''',
        },
        problem_statement='''LRUCache evicts an entry that was just read

`LRUCache` behaves like a FIFO queue: reading an entry doesn't protect it, so the hottest key in our app keeps getting evicted.

```python
from tallyho.lru import LRUCache

cache = LRUCache(2)
cache.put("a", 1)
cache.put("b", 2)
cache.get("a")      # "a" is now the most recently used...
cache.put("c", 3)
print("a" in cache, "b" in cache)   # prints: False True
```

Expected `True False`: "b" is the least recently used entry at that point, so it should be the one evicted.
''',
    ),
    Bug(
        title="inifile: keep '=' characters inside values",
        created_at="2024-03-11T09:30:00Z",
        edits=(
            (
                "tallyho/inifile.py",
                '''        fields = line.split("=")
        key, value = fields[0].strip(), fields[1].strip()''',
                '''        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()''',
            ),
        ),
        tests={
            "tests/test_inifile.py": '''

def test_value_with_equals_sign():
    data = parse_ini("[db]\\nurl = postgres://db.local/app?sslmode=require\\n")
    assert data["db"]["url"] == "postgres://db.local/app?sslmode=require"


def test_value_with_several_equals_signs():
    assert parse_ini("check = a == b")[""] == {"check": "a == b"}
''',
        },
        problem_statement='''INI values containing "=" are cut off

```python
>>> from tallyho.inifile import parse_ini
>>> parse_ini("[db]\\nurl = postgres://db.local/app?sslmode=require")["db"]["url"]
'postgres://db.local/app?sslmode'
```

The part after the second `=` is silently lost, which broke our database connection string. Expected the full value `'postgres://db.local/app?sslmode=require'`.
''',
    ),
    Bug(
        title="querystring: decode '+' as a space",
        created_at="2024-03-12T15:05:00Z",
        edits=(
            (
                "tallyho/querystring.py",
                "from urllib.parse import quote_plus, unquote\n",
                "from urllib.parse import quote_plus, unquote_plus\n",
            ),
            (
                "tallyho/querystring.py",
                "result.setdefault(unquote(key), []).append(unquote(value))",
                "result.setdefault(unquote_plus(key), []).append(unquote_plus(value))",
            ),
        ),
        tests={
            "tests/test_querystring.py": '''

def test_parse_plus_is_space():
    assert parse_qs("q=hello+world") == {"q": ["hello world"]}


def test_round_trip():
    params = {"q": "fish & chips", "city": "New York"}
    assert parse_qs(build_qs(params)) == {"q": ["fish & chips"], "city": ["New York"]}


def test_parse_escaped_plus():
    assert parse_qs("x=%2B1") == {"x": ["+1"]}
''',
        },
        problem_statement='''parse_qs doesn't round-trip build_qs output

`build_qs` writes spaces as `+`, but `parse_qs` gives the plus signs back literally:

```python
>>> from tallyho.querystring import build_qs, parse_qs
>>> build_qs({"q": "fish & chips"})
'q=fish+%26+chips'
>>> parse_qs(build_qs({"q": "fish & chips"}))
{'q': ['fish+&+chips']}
```

Expected `{'q': ['fish & chips']}`. Browsers submit forms the same way (`q=hello+world`), so this shows up with real requests too.
''',
    ),
    Bug(
        title="dateranges: include the end day in iter_days",
        created_at="2024-03-14T10:50:00Z",
        edits=(
            (
                "tallyho/dateranges.py",
                "for offset in range((end - start).days):",
                "for offset in range((end - start).days + 1):",
            ),
        ),
        tests={
            "tests/test_dateranges.py": '''

def test_iter_days_includes_end():
    days = list(iter_days(date(2024, 1, 1), date(2024, 1, 3)))
    assert days == [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)]


def test_iter_days_single_day():
    assert list(iter_days(date(2024, 2, 29), date(2024, 2, 29))) == [date(2024, 2, 29)]


def test_count_weekdays_monday_to_friday():
    assert count_weekdays(date(2024, 1, 1), date(2024, 1, 5)) == 5
''',
        },
        problem_statement='''count_weekdays counts 4 working days from Monday to Friday

Both functions are documented as "both included", but the last day is never there:

```python
>>> from datetime import date
>>> from tallyho.dateranges import count_weekdays, iter_days
>>> count_weekdays(date(2024, 1, 1), date(2024, 1, 5))   # Mon..Fri
4
>>> list(iter_days(date(2024, 2, 29), date(2024, 2, 29)))
[]
```

Expected `5` and `[datetime.date(2024, 2, 29)]`.
''',
    ),
    Bug(
        title="semver: pre-releases sort before the release",
        created_at="2024-03-15T17:20:00Z",
        edits=(
            (
                "tallyho/semver.py",
                'return (int(major), int(minor), int(patch)), prerelease or ""',
                'return (int(major), int(minor), int(patch)), (prerelease is None, prerelease or "")',
            ),
        ),
        tests={
            "tests/test_semver.py": '''

def test_prerelease_is_older_than_release():
    assert compare("1.0.0-rc.1", "1.0.0") == -1


def test_release_is_newer_than_prerelease():
    assert compare("2.0.0", "2.0.0-beta") == 1


def test_newest_prefers_release():
    assert newest(["1.0.0-rc.2", "1.0.0", "0.9.0"]) == "1.0.0"
''',
        },
        problem_statement='''Release candidates are considered newer than the final release

```python
>>> from tallyho.semver import compare, newest
>>> compare("1.0.0-rc.1", "1.0.0")
1
>>> newest(["1.0.0-rc.2", "1.0.0"])
'1.0.0-rc.2'
```

Per semver.org, a pre-release has lower precedence than the associated normal version, so I expected `-1` and `'1.0.0'`. The README says the same ("pre-releases sort before releases").
''',
    ),
    Bug(
        title="text: count the ellipsis in truncate's width",
        created_at="2024-03-17T12:00:00Z",
        edits=(
            (
                "tallyho/text.py",
                '''        return text
    return text[:width] + ellipsis''',
                '''        return text
    keep = width - len(ellipsis)
    if keep <= 0:
        return ellipsis[:width]
    return text[:keep] + ellipsis''',
            ),
        ),
        tests={
            "tests/test_text.py": '''

def test_truncate_fits_width():
    assert truncate("hello world", 8) == "hello w…"


def test_truncate_custom_ellipsis():
    assert truncate("abcdefghij", 6, ellipsis="...") == "abc..."


def test_truncate_never_exceeds_width():
    for width in range(12):
        assert len(truncate("hello world!", width, ellipsis="...")) <= width
''',
        },
        problem_statement='''truncate() returns text longer than the requested width

We use `truncate` to fit labels into fixed-width table columns, and the columns overflow:

```python
>>> from tallyho.text import truncate
>>> truncate("hello world", 8)
'hello wo…'
>>> len(_)
9
>>> truncate("abcdefghij", 6, ellipsis="...")
'abcdef...'
```

The docstring says "at most `width` characters", so I expected `'hello w…'` (8 characters) and `'abc...'`.
''',
    ),
    Bug(
        title="roman: accept lower-case numerals",
        created_at="2024-03-18T08:15:00Z",
        edits=(("tallyho/roman.py", "    text = text.strip()\n", "    text = text.strip().upper()\n"),),
        tests={
            "tests/test_roman.py": '''

def test_from_roman_lower_case():
    assert from_roman("mcmxciv") == 1994


def test_from_roman_mixed_case():
    assert from_roman("Xiv") == 14
''',
        },
        problem_statement='''from_roman rejects lower-case numerals like "xiv"

Chapter numbers in our documents are written in lower case (`xiv`, `iii`), and `from_roman` refuses them:

```python
>>> from tallyho.roman import from_roman
>>> from_roman("xiv")
Traceback (most recent call last):
  ...
ValueError: not a Roman numeral: 'xiv'
```

Expected `14`, the same as `from_roman("XIV")`. Mixed case such as `"Xiv"` fails too.
''',
    ),
    Bug(
        title="lru: storing an existing key marks it as recently used",
        created_at="2024-03-20T14:35:00Z",
        edits=(
            (
                "tallyho/lru.py",
                '''        self._entries[key] = value
        if len(self._entries) > self.capacity:''',
                '''        if key in self._entries:
            self._entries.move_to_end(key)
        self._entries[key] = value
        if len(self._entries) > self.capacity:''',
            ),
        ),
        tests={
            "tests/test_lru.py": '''

def test_put_existing_key_protects_from_eviction():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)
    assert cache.get("a") == 10
    assert "b" not in cache


def test_put_existing_key_reorders_keys():
    cache = LRUCache(3)
    for key in "abc":
        cache.put(key, 0)
    cache.put("a", 1)
    assert cache.keys() == ["b", "c", "a"]
''',
        },
        problem_statement='''Updating a cached value doesn't refresh it

Reads refresh an entry now, but writes to an existing key still leave it at its old position, so a value that was just updated is the next to go:

```python
from tallyho.lru import LRUCache

cache = LRUCache(2)
cache.put("a", 1)
cache.put("b", 2)
cache.put("a", 10)   # update "a"
cache.put("c", 3)
print(cache.keys())  # ['b', 'c'] -- the fresh value of "a" is gone
```

Expected `['a', 'c']`: "b" is the least recently used entry.
''',
    ),
    Bug(
        title="inifile: treat lines starting with ';' as comments",
        created_at="2024-03-22T11:11:00Z",
        edits=(
            (
                "tallyho/inifile.py",
                'if not line or line.startswith("#"):',
                'if not line or line.startswith(("#", ";")):',
            ),
        ),
        tests={
            "tests/test_inifile.py": '''

def test_semicolon_comment_line():
    assert parse_ini("; generated file\\n[a]\\nx = 1\\n") == {"": {}, "a": {"x": "1"}}


def test_semicolon_commented_out_setting():
    assert parse_ini("[a]\\n;x = 2\\nx = 1\\n") == {"": {}, "a": {"x": "1"}}
''',
        },
        problem_statement='''INI files with ";" comments fail to parse

Files written by Windows tools use `;` for comments, which the README says is supported, but:

```python
>>> from tallyho.inifile import parse_ini
>>> parse_ini("; generated file\\n[a]\\nx = 1")
Traceback (most recent call last):
  ...
ValueError: line 1: expected 'key = value', got '; generated file'
>>> parse_ini("[a]\\n;x = 2\\nx = 1")
{'': {}, 'a': {';x': '2', 'x': '1'}}
```

Expected `{'': {}, 'a': {'x': '1'}}` in both cases.
''',
    ),
    Bug(
        title="numfmt: 13 takes 'th' like 11 and 12",
        created_at="2024-03-24T10:20:00Z",
        edits=(
            (
                "tallyho/numfmt.py",
                "_TEENS = (11, 12)  # the exceptions to _SUFFIXES: 11th, 12th",
                "_TEENS = (11, 12, 13)  # the exceptions to _SUFFIXES: 11th, 12th, 13th",
            ),
        ),
        tests={
            "tests/test_numfmt.py": """

def test_ordinal_13():
    assert ordinal(13) == "13th"


def test_ordinal_113():
    assert [ordinal(n) for n in (113, 213, 2013)] == ["113th", "213th", "2013th"]


def test_ordinal_teens():
    assert [ordinal(n) for n in range(10, 21)] == [f"{n}th" for n in range(10, 21)]
""",
        },
        problem_statement="""ordinal(13) gives "13rd"

We print league positions with `tallyho.numfmt.ordinal` and thirteenth place comes out with the wrong suffix:

```python
>>> from tallyho.numfmt import ordinal
>>> ordinal(13)
'13rd'
>>> ordinal(12), ordinal(23)
('12th', '23rd')
```

Expected `'13th'`. Every other number we checked gets the right suffix; it is only this value.
""",
    ),
    Bug(
        title="tally: remove() keeps the total in step",
        created_at="2024-03-25T15:40:00Z",
        edits=(
            (
                "tallyho/tally.py",
                "        else:\n            self._counts.pop(item, None)\n",
                "        else:\n            self._counts.pop(item, None)\n        self.total -= taken\n",
            ),
        ),
        tests={
            "tests/test_tally.py": """

def test_remove_updates_total():
    votes = Tally(["yes", "yes", "no"])
    votes.remove("yes")
    assert votes.total == 2
    assert votes.share("no") == 0.5


def test_remove_more_than_counted():
    tally = Tally("aab")
    tally.remove("a", 5)
    assert tally["a"] == 0 and tally.total == 1
""",
        },
        problem_statement="""Tally.total is stale after remove()

After items are removed from a `Tally`, its `total` still counts them, so every share computed from it is wrong too:

```python
from tallyho.tally import Tally

votes = Tally(["yes", "yes", "no"])
votes.remove("yes")      # a vote was withdrawn
print(votes["yes"], votes.total, votes.share("no"))   # prints: 1 3 0.3333333333333333
```

Expected `1 2 0.5`. The count of the item is updated, but the total is left as it was before the removal.
""",
    ),
    Bug(
        title="dateranges: merge_ranges sorts ranges by their start",
        created_at="2024-03-26T09:05:00Z",
        edits=(
            (
                "tallyho/dateranges.py",
                "for start, end in sorted(ranges, key=lambda r: r[1]):",
                "for start, end in sorted(ranges):",
            ),
        ),
        tests={
            "tests/test_dateranges.py": """

def test_merge_range_inside_a_later_one():
    ranges = [(date(2024, 1, 10), date(2024, 1, 20)), (date(2024, 1, 1), date(2024, 1, 31))]
    assert merge_ranges(ranges) == [(date(2024, 1, 1), date(2024, 1, 31))]


def test_merge_chain_given_out_of_order():
    ranges = [(date(2024, 1, 1), date(2024, 1, 2)), (date(2024, 1, 10), date(2024, 1, 12)), (date(2024, 1, 3), date(2024, 1, 20))]
    assert merge_ranges(ranges) == [(date(2024, 1, 1), date(2024, 1, 20))]


def test_merge_result_is_sorted_by_start():
    ranges = [(date(2024, 3, 1), date(2024, 3, 31)), (date(2024, 3, 5), date(2024, 3, 6)), (date(2024, 1, 1), date(2024, 1, 1))]
    assert merge_ranges(ranges) == [(date(2024, 1, 1), date(2024, 1, 1)), (date(2024, 3, 1), date(2024, 3, 31))]
""",
        },
        problem_statement="""merge_ranges loses days when the ranges are not given in order

Our booking system lists ranges in the order they were created, and `merge_ranges` gets them wrong:

```python
>>> from datetime import date
>>> from tallyho.dateranges import merge_ranges
>>> merge_ranges([(date(2024, 1, 10), date(2024, 1, 20)), (date(2024, 1, 1), date(2024, 1, 31))])
[(datetime.date(2024, 1, 10), datetime.date(2024, 1, 31))]
```

January 1 to 9 is lost; expected `[(date(2024, 1, 1), date(2024, 1, 31))]`. When the same ranges are passed already sorted by start date the result is right, so it looks like they are put in the wrong order before merging.
""",
    ),
    Bug(
        title="text: spell letters without a decomposition in ASCII in slugify",
        created_at="2024-03-27T13:30:00Z",
        edits=(
            (
                "tallyho/text.py",
                'def slugify(text: str, separator: str = "-") -> str:',
                """# Letters that Unicode does not decompose into an ASCII letter and accents, spelled in ASCII.
_ASCII_LETTERS = str.maketrans({
    "ß": "ss", "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "Œ": "OE", "œ": "oe",
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Þ": "TH", "þ": "th",
})


def slugify(text: str, separator: str = "-") -> str:""",
            ),
            (
                "tallyho/text.py",
                'unicodedata.normalize("NFKD", text)',
                'unicodedata.normalize("NFKD", text.translate(_ASCII_LETTERS))',
            ),
        ),
        tests={
            "tests/test_text.py": """

def test_slugify_sharp_s_and_slashed_l():
    assert slugify("Straße") == "strasse"
    assert slugify("Łódź") == "lodz"


def test_slugify_ligatures_and_slashed_o():
    assert slugify("Ærøskøbing") == "aeroskobing"
    assert slugify("Œuvres complètes") == "oeuvres-completes"
""",
        },
        problem_statement="""slugify drops letters such as ß, Ł and Æ from the text

Accented letters are turned into plain ASCII as documented (`"Héllo"` -> `"hello"`), but some letters vanish from the slug instead of being spelled out:

```python
>>> from tallyho.text import slugify
>>> slugify("Straße")
'strae'
>>> slugify("Łódź")
'odz'
>>> slugify("Ærøskøbing")
'rskbing'
```

Expected `'strasse'`, `'lodz'` and `'aeroskobing'`. Our URLs for German, Polish and Danish place names are unreadable because these letters are dropped instead of spelled in ASCII.
""",
    ),
    Bug(
        title="duration: add weeks to the units",
        created_at="2024-03-28T11:50:00Z",
        edits=(
            (
                "tallyho/duration.py",
                '_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}',
                '_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}',
            ),
            (
                "tallyho/duration.py",
                '_PART = re.compile(r"(\\d+)\\s*([dhms])")',
                '_PART = re.compile(r"(\\d+)\\s*([wdhms])")',
            ),
        ),
        tests={
            "tests/test_duration.py": """

def test_parse_weeks():
    assert parse_duration("2w") == 1209600
    assert parse_duration("1w 2d") == 777600


def test_format_weeks():
    assert format_duration(1209600) == "2w"
    assert format_duration(694861) == "1w1d1h1m1s"
""",
        },
        problem_statement="""Weeks are missing from the duration units

The module docstring lists `w` (weeks) among the units, but weeks are not recognised in either direction:

```python
>>> from tallyho.duration import parse_duration, format_duration
>>> parse_duration("2w")
Traceback (most recent call last):
  ...
ValueError: not a duration: '2w'
>>> format_duration(1209600)
'14d'
```

Expected `1209600` and `'2w'`. Every other unit (d, h, m, s) gives the right value; only this one is missing.
""",
    ),
    Bug(
        title="dateranges: accept a one-day range in parse_range",
        created_at="2024-03-29T08:25:00Z",
        edits=(("tallyho/dateranges.py", "    if end <= start:\n", "    if end < start:\n"),),
        tests={
            "tests/test_dateranges.py": """

def test_parse_range_single_day():
    assert parse_range("2024-02-29..2024-02-29") == (date(2024, 2, 29), date(2024, 2, 29))


def test_count_weekdays_of_a_parsed_single_day():
    assert count_weekdays(*parse_range("2024-03-01..2024-03-01")) == 1
""",
        },
        problem_statement="""parse_range rejects a range that starts and ends on the same day

Ranges are inclusive at both ends, so `2024-02-29..2024-02-29` is the single day 2024-02-29 (and `iter_days` accepts start == end), but it is refused:

```python
>>> from tallyho.dateranges import parse_range
>>> parse_range("2024-02-29..2024-02-29")
Traceback (most recent call last):
  ...
ValueError: range ends before it starts: '2024-02-29..2024-02-29'
```

Ranges of two days or more are fine; only the exact limit, where the end day is the start day, is refused.
""",
    ),
    Bug(
        title="inifile: remove matching quotes around values",
        created_at="2024-03-30T16:10:00Z",
        edits=(
            (
                "tallyho/inifile.py",
                "        key, value = key.strip(), value.strip()\n",
                "        key, value = key.strip(), value.strip()\n"
                "        if len(value) >= 2 and value[0] == value[-1] and value[0] in \"\\\"'\":\n"
                "            value = value[1:-1]\n",
            ),
        ),
        tests={
            "tests/test_inifile.py": """

def test_double_quoted_value():
    assert parse_ini('[app]\\nname = "My App"\\n')["app"]["name"] == "My App"


def test_quotes_keep_surrounding_spaces():
    assert parse_ini("prompt = '> '\\n")[""]["prompt"] == "> "


def test_quoted_value_with_quotes_inside():
    assert parse_ini("motto = '\\"Less is more\\"'\\n")[""]["motto"] == '"Less is more"'


def test_quotes_inside_an_unquoted_value_are_kept():
    assert parse_ini('greeting = say "hi"\\n')[""]["greeting"] == 'say "hi"'
""",
        },
        problem_statement="""Quoted INI values keep their quotes

The `parse_ini` docstring says a value in matching quotes loses the quotes, but the parser keeps them as part of the value:

```python
>>> from tallyho.inifile import parse_ini
>>> parse_ini('[app]\\nname = "My App"')["app"]["name"]
'"My App"'
>>> parse_ini("prompt = '> '")[""]["prompt"]
"'> '"
```

Expected `'My App'` and `'> '` (the quotes are there to keep the trailing space). Files written by other tools quote values this way all the time; the line parser only handles the plain `key = value` form.
""",
    ),
    Bug(
        title="semver: order pre-release identifiers as semver.org does",
        created_at="2024-03-31T10:45:00Z",
        edits=(
            (
                "tallyho/semver.py",
                '(prerelease is None, prerelease or "")',
                "(prerelease is None, _identifiers(prerelease))",
            ),
            (
                "tallyho/semver.py",
                "def compare(a: str, b: str) -> int:",
                'def _identifiers(prerelease: str | None) -> tuple:\n'
                '    """Pre-release identifiers as semver.org orders them: numbers numerically and before words."""\n'
                "    if not prerelease:\n"
                "        return ()\n"
                '    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in prerelease.split("."))\n'
                "\n\n"
                "def compare(a: str, b: str) -> int:",
            ),
        ),
        tests={
            "tests/test_semver.py": """

def test_prerelease_numbers_compare_numerically():
    assert compare("1.0.0-rc.10", "1.0.0-rc.2") == 1


def test_newest_release_candidate():
    assert newest(["1.0.0-rc.2", "1.0.0-rc.10", "1.0.0-rc.9"]) == "1.0.0-rc.10"


def test_semver_org_precedence_example():
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
             "1.0.0-rc.1", "1.0.0"]
    for older, newer in zip(order, order[1:]):
        assert compare(older, newer) == -1 and compare(newer, older) == 1
""",
        },
        problem_statement="""1.0.0-rc.10 is considered older than 1.0.0-rc.2

The numbers in pre-release tags are compared as strings, so the order goes wrong past 9:

```python
>>> from tallyho.semver import compare, newest
>>> compare("1.0.0-rc.10", "1.0.0-rc.2")
-1
>>> newest(["1.0.0-rc.2", "1.0.0-rc.10"])
'1.0.0-rc.2'
```

semver.org (item 11) says identifiers made of digits only are compared numerically, and numeric identifiers always have lower precedence than alphanumeric ones. The README promises the semver.org order, so I expected `1` and `'1.0.0-rc.10'`.
""",
    ),
    Bug(
        title="lru: resize() evicts down to the new capacity",
        created_at="2024-04-01T14:00:00Z",
        edits=(
            (
                "tallyho/lru.py",
                "        self.capacity = capacity\n\n    def keys(self) -> list:",
                "        self.capacity = capacity\n"
                "        while len(self._entries) > self.capacity:\n"
                "            self._entries.popitem(last=False)\n\n"
                "    def keys(self) -> list:",
            ),
        ),
        tests={
            "tests/test_lru.py": """

def test_resize_shrinks_to_the_new_capacity():
    cache = LRUCache(4)
    for key in "abcd":
        cache.put(key, key)
    cache.resize(2)
    assert len(cache) == 2
    assert cache.keys() == ["c", "d"]


def test_resize_then_put_stays_within_capacity():
    cache = LRUCache(3)
    for key in "abc":
        cache.put(key, key)
    cache.get("a")
    cache.resize(1)
    cache.put("d", "d")
    assert cache.keys() == ["d"]
""",
        },
        problem_statement="""LRUCache.resize() doesn't evict anything

Shrinking a cache leaves it over its new capacity, and it stays over it afterwards:

```python
from tallyho.lru import LRUCache

cache = LRUCache(4)
for key in "abcd":
    cache.put(key, key)
cache.resize(2)
print(len(cache), cache.keys())   # prints: 4 ['a', 'b', 'c', 'd']
cache.put("e", "e")
print(len(cache))                 # prints: 4 -- still over capacity
```

Expected `2 ['c', 'd']` after the resize: the docstring says the least recently used entries are evicted when the capacity shrinks, but the cache's entries are not updated at all.
""",
    ),
    Bug(
        title="numfmt: add PiB and EiB to human_size",
        created_at="2024-04-02T09:35:00Z",
        edits=(
            (
                "tallyho/numfmt.py",
                '_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"]',
                '_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]',
            ),
        ),
        tests={
            "tests/test_numfmt.py": """

def test_human_size_pebibytes():
    assert human_size(1024**5) == "1.0 PiB"
    assert human_size(3 * 1024**5) == "3.0 PiB"


def test_human_size_exbibytes():
    assert human_size(2 * 1024**6) == "2.0 EiB"
""",
        },
        problem_statement="""human_size stops at TiB

Our storage dashboard shows petabyte-sized volumes in tebibytes:

```python
>>> from tallyho.numfmt import human_size
>>> human_size(1024**5)
'1024.0 TiB'
>>> human_size(3 * 1024**5)
'3072.0 TiB'
```

Expected `'1.0 PiB'` and `'3.0 PiB'` (and EiB beyond that: the README says byte sizes go up to exbibytes). Every smaller unit gives the right value; only the largest values are missing their unit.
""",
    ),
]
