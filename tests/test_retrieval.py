"""Retrieval: the issue's own kind of workflow ranks first, scores are normalised so a minimum means something,
the token budget is never exceeded, and an issue is never given a workflow learned from itself."""

import random

import pytest

from awm.memory import retrieval
from awm.model.client import count_tokens
from awm.memory.retrieval import (AllRetriever, BM25Retriever, EmbeddingRetriever, Selection,
                                  litellm_embedder, make_retriever, retrieve)
from awm.memory.store import WorkflowMemory
from awm.records import PITFALL, WORKFLOW, Workflow

MIN_SCORE = 0.05  # the default this module's measurements support (see awm.memory.retrieval)

# Workflows as an inducer writes them for the demo's bug categories, and issues of each category.
WORKFLOWS = {
    "lookup": {
        "name": "Add a missing entry to a conversion table",
        "description": "a conversion or lookup (a number to its symbols, units, status codes to phrases) is right "
                       "for most inputs but gives a wrong result, a KeyError or 'Unknown' for a few specific ones: its "
                       "table lacks an entry.",
        "steps": [
            "Find the table of values the conversion walks through — `grep -n '{table-name}' {module-path}`",
            "Reproduce with one of the wrong values from the issue — "
            "`python -c 'from {module} import {function}; print({function}({value}))'`",
            "Add the missing entry in its sorted position in the table — `str_replace {module-path}: {old-row} -> {row-with-entry}`",
            "Run the conversion's tests — `python -m pytest -q tests/{test-file}`",
        ],
    },
    "normalise": {
        "name": "Normalise text input before comparing or splitting it",
        "description": "text in another form (upper or lower case, punctuation, separators, plus signs, "
                       "encoding) is rejected, doubled or kept as written instead of being normalised.",
        "steps": [
            "Reproduce with the exact input from the issue — "
            "`python -c 'from {module} import {function}; print({function}({raw-input}))'`",
            "Locate where the input is cleaned, decoded or split before use — `grep -n '{cleaning-call}' {module-path}`",
            "Normalise the text once (case, separators, decoding) before it is compared or split — "
            "`str_replace {module-path}: {old-line} -> {normalised-line}`",
            "Run the module's tests — `python -m pytest -q tests/{test-file}`",
        ],
    },
    "boundary": {
        "name": "Fix an off-by-one at a limit or boundary",
        "description": "a result is wrong exactly at a limit (the last day of a range, an exact size such as 1024, "
                       "text longer than the requested width) while other values work.",
        "steps": [
            "Find the comparison or range that decides the limit — `grep -n '{bound-expression}' {module-path}`",
            "Reproduce with the exact boundary value — "
            "`python -c 'from {module} import {function}; print({function}({boundary-value}))'`",
            "Make the bound match the documented inclusive or exclusive rule (< versus <=, range end + 1) — "
            "`str_replace {module-path}: {old-bound} -> {new-bound}`",
            "Run the module's tests — `python -m pytest -q tests/{test-file}`",
        ],
    },
    "ordering": {
        "name": "Fix the sort key behind a wrong order",
        "description": "sorting or comparing values (versions, names, numbers in text) gives the wrong order, "
                       "newest or oldest, for some inputs.",
        "steps": [
            "Find the key function the values are compared or sorted by — `grep -n 'def {key-function}' -A 8 {module-path}`",
            "Check each field of the key has the type and order the spec requires (numbers compared as numbers, "
            "pre-releases before releases) — `python -c 'from {module} import {key-function}; print({key-function}({example}))'`",
            "Change the key, not the comparison — `str_replace {module-path}: {old-key} -> {new-key}`",
            "Run the module's tests — `python -m pytest -q tests/{test-file}`",
        ],
    },
    "parsing": {
        "name": "Handle a legal variant in a parser",
        "description": "a parser (INI file, duration, query string) reads the plain line or token but "
                       "mishandles a legal variant: several units, a value containing the separator, comment lines.",
        "steps": [
            "Read the parser's loop and how it splits each line or token — `sed -n '1,60p' {module-path}`",
            "Reproduce with the variant input from the issue — "
            "`python -c 'from {module} import {parser}; print({parser}({variant-input}))'`",
            "Handle the variant where the line or token is split or classified (split once, skip comments, "
            "loop over every unit) — `str_replace {module-path}: {old-split} -> {new-split}`",
            "Run the parser's tests — `python -m pytest -q tests/{test-file}`",
        ],
    },
    "state": {
        "name": "Update internal state in every operation",
        "description": "an object's internal order or bookkeeping (recently used entries, counts, an index) is not "
                       "updated by one of its operations (get, put, update, remove), so a later result is stale.",
        "steps": [
            "List the operations and where each updates the state — `grep -n 'def \\|{state-attribute}' {module-path}`",
            "Update the state in the operation that forgets to (move the entry, refresh the count) — "
            "`str_replace {module-path}: {old-body} -> {body-with-update}`",
            "Run the class's tests — `python -m pytest -q tests/{test-file}`",
        ],
    },
}

ISSUES = [  # (instance id, category, problem statement)
    ("lib-1", "lookup", """to_roman(4) gives "IIII"

`tallykit.roman.to_roman` handles 9, 40, 90, 400 and 900 with the subtractive form, but every number ending in 4
comes out with four I's:

```python
>>> from tallykit.roman import to_roman
>>> to_roman(4)
'IIII'
>>> to_roman(1994)
'MCMXCIIII'
```

Expected `'IV'` and `'MCMXCIV'`."""),
    ("lib-2", "lookup", """convert() raises KeyError for miles

```python
>>> from tallykit.units import convert
>>> convert(3, "km", "m")
3000.0
>>> convert(1, "mi", "km")
KeyError: 'mi'
```

Kilometres, metres and feet convert fine; miles and nautical miles are missing although the README lists them."""),
    ("lib-3", "lookup", """reason_phrase(418) returns "Unknown"

`tallykit.http.reason_phrase` gives the right phrase for 200, 404 and 500 but "Unknown" for a few codes that are
in the RFC, e.g. 418 and 429:

```python
>>> from tallykit.http import reason_phrase
>>> reason_phrase(429)
'Unknown'
```

Expected `'Too Many Requests'`."""),
    ("lib-4", "normalise", """slugify produces doubled dashes for titles with punctuation

```python
>>> from tallykit.text import slugify
>>> slugify("Hello, World!")
'hello--world'
>>> slugify("Rock & Roll")
'rock---roll'
```

I expected `'hello-world'` and `'rock-roll'`: one separator between words, whatever was between them."""),
    ("lib-5", "normalise", """parse_qs doesn't round-trip build_qs output

`build_qs` writes spaces as `+`, but `parse_qs` gives the plus signs back literally:

```python
>>> from tallykit.querystring import build_qs, parse_qs
>>> parse_qs(build_qs({"q": "fish & chips"}))
{'q': ['fish+&+chips']}
```

Expected `{'q': ['fish & chips']}`. Browsers submit forms the same way."""),
    ("lib-6", "normalise", """from_roman rejects lower-case numerals like "xiv"

Chapter numbers in our documents are written in lower case (`xiv`, `iii`), and `from_roman` refuses them:

```python
>>> from tallykit.roman import from_roman
>>> from_roman("xiv")
ValueError: not a Roman numeral: 'xiv'
```

Expected `14`, the same as `from_roman("XIV")`. Mixed case such as `"Xiv"` fails too."""),
    ("lib-7", "boundary", """human_size(1024) returns "1024 B"

```python
>>> from tallykit.numfmt import human_size
>>> human_size(1024)
'1024 B'
>>> human_size(1024 * 1024)
'1024.0 KiB'
```

One KiB should print as `1.0 KiB` and one MiB as `1.0 MiB`. Values a little over the limit are fine."""),
    ("lib-8", "boundary", """count_weekdays counts 4 working days from Monday to Friday

Both functions are documented as "both included", but the last day is never there:

```python
>>> from tallykit.dateranges import count_weekdays, iter_days
>>> count_weekdays(date(2024, 1, 1), date(2024, 1, 5))   # Mon..Fri
4
```

Expected `5`."""),
    ("lib-9", "boundary", """truncate() returns text longer than the requested width

We use `truncate` to fit labels into fixed-width columns, and the columns overflow:

```python
>>> from tallykit.text import truncate
>>> truncate("hello world", 8)
'hello wo…'
>>> len(_)
9
```

The docstring says "at most `width` characters", so I expected `'hello w…'`."""),
    ("lib-10", "ordering", """newest() picks 1.9.0 over 1.10.0

Our release script uses `tallykit.semver.newest` to find the latest tag and it went backwards after 1.10.0:

```python
>>> from tallykit.semver import compare, newest
>>> newest(["1.9.0", "1.10.0"])
'1.9.0'
```

Expected `'1.10.0'`. Versions where every part is a single digit compare fine."""),
    ("lib-11", "ordering", """Release candidates are considered newer than the final release

```python
>>> from tallykit.semver import compare, newest
>>> compare("1.0.0-rc.1", "1.0.0")
1
```

Per semver.org, a pre-release has lower precedence than the associated normal version, so I expected `-1`.
The README says the same ("pre-releases sort before releases")."""),
    ("lib-12", "ordering", """natural_sorted puts "file10" before "file2"

```python
>>> from tallykit.sorting import natural_sorted
>>> natural_sorted(["file10.txt", "file2.txt", "file1.txt"])
['file1.txt', 'file10.txt', 'file2.txt']
```

The point of natural sorting is that numbers inside names are ordered by value: expected
`['file1.txt', 'file2.txt', 'file10.txt']`."""),
    ("lib-13", "parsing", """parse_duration ignores everything after the first unit

```python
>>> from tallykit.duration import parse_duration
>>> parse_duration("1h30m")
3600
```

I expected `5400`. The docstring even lists "1h30m" and "2d 4h" as examples."""),
    ("lib-14", "parsing", """INI values containing "=" are cut off

```python
>>> from tallykit.inifile import parse_ini
>>> parse_ini("[db]\\nurl = postgres://db.local/app?sslmode=require")["db"]["url"]
'postgres://db.local/app?sslmode'
```

The part after the second `=` is silently lost. Expected the full value."""),
    ("lib-15", "parsing", """INI files with ";" comments fail to parse

Files written by Windows tools use `;` for comments, which the README says is supported, but:

```python
>>> parse_ini("; generated file\\n[a]\\nx = 1")
ValueError: line 1: expected 'key = value', got '; generated file'
```"""),
    ("lib-16", "state", """LRUCache evicts an entry that was just read

`LRUCache` behaves like a FIFO queue: reading an entry doesn't protect it, so the hottest key keeps getting evicted.

```python
cache = LRUCache(2)
cache.put("a", 1); cache.put("b", 2)
cache.get("a")      # "a" is now the most recently used...
cache.put("c", 3)
print("a" in cache)   # prints: False
```"""),
    ("lib-17", "state", """Updating a cached value doesn't refresh it

Reads refresh an entry now, but writes to an existing key still leave it at its old position, so a value that was
just updated is the next to go:

```python
cache = LRUCache(2)
cache.put("a", 1); cache.put("b", 2)
cache.put("a", 10)   # update "a"
cache.put("c", 3)
print(cache.keys())  # ['b', 'c']
```"""),
    ("lib-18", "state", """Counter.total() is wrong after remove()

```python
>>> from tallykit.tally import Counter
>>> c = Counter(["a", "a", "b"])
>>> c.remove("a")
>>> c.total()
3
```

`remove` drops the key but the running total is not updated, so `total()` still counts it. Expected `1`."""),
]

DISTRACTORS = [  # workflows of other kinds of work, which none of the issues above is about
    {"name": "Add a database migration for a new model field",
     "description": "the issue asks for a new field or column on a Django model.",
     "steps": ["Add the field to the model class — `str_replace {app}/models.py: {old-field} -> {new-field}`",
               "Generate the migration — `python manage.py makemigrations {app}`",
               "Run the app's tests against the migrated schema — `python manage.py test {app}`"]},
    {"name": "Add a command-line option",
     "description": "a user asks for a new flag or argument on the command-line interface.",
     "steps": ["Find where the argument parser is built — `grep -n 'add_argument' {cli-module}`",
               "Add the option with its default and help text — `str_replace {cli-module}: {old-args} -> {new-args}`",
               "Check the help output lists it — `python -m {package} --help`"]},
    {"name": "Silence a deprecation warning from a dependency",
     "description": "tests or users see a DeprecationWarning raised by a third-party library call.",
     "steps": ["Find the deprecated call named in the warning — `grep -rn '{deprecated-call}' {package-dir}`",
               "Replace it with the API the warning recommends — `str_replace {module-path}: {old-call} -> {new-call}`",
               "Run the tests with warnings as errors — `python -W error -m pytest -q`"]},
    {"name": "Fix a flaky asynchronous test",
     "description": "a test using asyncio passes or fails at random because of timing or an event loop left open.",
     "steps": ["Run the test many times to see it fail — `python -m pytest -q {test-id} --count 50`",
               "Await the task or close the loop the test leaves behind — `str_replace {test-file}: {old-code} -> {new-code}`"]},
    {"name": "Pin a dependency that broke the build",
     "description": "installation or import fails after a new release of a dependency.",
     "steps": ["Read the failing import or install log — `pip install -e . 2>&1 | tail -20`",
               "Pin the last working version in the project metadata — `str_replace pyproject.toml: {old-dep} -> {pinned-dep}`"]},
    {"name": "Configure logging output",
     "description": "log messages are missing, duplicated or go to the wrong handler.",
     "steps": ["Find where loggers and handlers are configured — `grep -rn 'getLogger\\|addHandler' {package-dir}`",
               "Attach one handler at the package's root logger — `str_replace {module-path}: {old-config} -> {new-config}`"]},
    {"name": "Add type hints to a public function",
     "description": "mypy reports missing annotations or an incompatible type in a public function signature.",
     "steps": ["Run the type checker on the package — `mypy {package-dir}`",
               "Annotate the signature and fix the reported mismatch — `str_replace {module-path}: {old-signature} -> {new-signature}`"]},
    {"name": "Fix a broken Docker image",
     "description": "the Docker image no longer builds: a RUN step fails after a base image or system package changed.",
     "steps": ["Build the image and read the failing step — `docker build -t {image} .`",
               "Change the base image tag or the apt package in the Dockerfile — `str_replace Dockerfile: {old-line} -> {new-line}`"]},
]

OTHER_WORK = [  # issues of kinds no category workflow is about, with little in common with their words
    """Add a --verbose option to the CLI

It would help to see which files `tallykit` reads. Could `tallykit report` take `--verbose` and log each path?""",
    """DeprecationWarning from datetime.utcnow in Python 3.12

Running the test suite prints `DeprecationWarning: datetime.datetime.utcnow() is deprecated` from tallykit/clock.py.""",
]


def entry(key, item, kind=WORKFLOW, **fields):
    return Workflow(id=f"{'pf' if kind == PITFALL else 'wf'}-{key}", name=item["name"],
                    description=item["description"], steps=list(item["steps"]), kind=kind, **fields)


def memory_with(entries):
    mem = WorkflowMemory(100)
    mem.workflows = list(entries)
    return mem


def categories():
    return [entry(key, item) for key, item in WORKFLOWS.items()]


def distractors():
    return [entry(f"other-{n}", item) for n, item in enumerate(DISTRACTORS)]


def words(text):
    return len(text.split())


def pick(mem, issue, instance_id="lib-x", *, budget_tokens=1500, min_score=MIN_SCORE, top_k=5, count=words,
         retriever=None, budget=True):
    return retrieve(mem, issue, instance_id, retriever or BM25Retriever(), budget_tokens=budget_tokens,
                    min_score=min_score, top_k=top_k, count=count, budget=budget)


# ---- ranking


@pytest.mark.parametrize("instance_id,category,issue", ISSUES, ids=[i[0] for i in ISSUES])
def test_the_issues_category_workflow_ranks_first(instance_id, category, issue):
    mem = memory_with(categories() + distractors())
    ranked = BM25Retriever().rank(issue, mem.active())
    assert ranked[0][0].id == f"wf-{category}", [(w.id, round(s, 3)) for w, s in ranked[:3]]
    selection = pick(mem, issue, instance_id)
    assert selection.entries[0].id == f"wf-{category}"
    assert selection.scores[f"wf-{category}"] >= MIN_SCORE


def test_nothing_is_retrieved_under_the_minimum_score():
    mem = memory_with(categories())
    for issue in OTHER_WORK:
        assert pick(mem, issue).entries == []
        assert pick(mem, issue).block == "" and pick(mem, issue).tokens == 0
    # a minimum above every score leaves nothing, even for the issue's own category
    _, category, issue = ISSUES[0]
    best = BM25Retriever().rank(issue, mem.active())[0][1]
    assert pick(mem, issue, min_score=best + 1e-6).entries == []
    assert [w.id for w in pick(mem, issue, min_score=best).entries][:1] == [f"wf-{category}"]


def test_most_other_categories_fall_under_the_default_minimum():
    mem = memory_with(categories() + distractors())
    retriever = BM25Retriever()
    others = [s for _, category, issue in ISSUES for w, s in retriever.rank(issue, mem.active())
              if w.id != f"wf-{category}"]
    assert sum(s < MIN_SCORE for s in others) / len(others) > 0.9


def test_bm25_scores_are_normalised_to_the_entrys_own_weight():
    wf = entry("state", WORKFLOWS["state"])
    retriever = BM25Retriever()
    scored = dict((w.id, s) for w, s in retriever.rank(retrieval.entry_text(wf), [wf] + distractors()))
    assert scored["wf-state"] == pytest.approx(1.0)  # an issue holding every word of the entry
    assert retriever.rank("zebra quagga okapi", [wf])[0][1] == 0.0  # no word in common
    assert all(0.0 <= s <= 1.0 for _, cat, issue in ISSUES for _, s in retriever.rank(issue, categories()))


def test_a_score_keeps_its_meaning_as_memory_grows_where_raw_bm25_does_not():
    pool = categories() + distractors()
    for _, category, issue in ISSUES[::3]:
        own = next(w for w in pool if w.id == f"wf-{category}")
        others = [w for w in pool if w is not own]
        normalised, raw = [], []
        for size in (0, 2, 5, 13):
            memory = [own] + others[:size]
            normalised.append(dict((w.id, s) for w, s in BM25Retriever().rank(issue, memory))[own.id])
            raw.append(BM25Retriever().raw_scores(issue, memory)[0])
        assert max(normalised) / min(normalised) < 1.6, normalised
        assert raw[-1] / raw[0] > 3, raw  # raw BM25 grows with the memory (through the idf)


def test_bm25_words_split_slots_snake_and_camel_case():
    words_of = BM25Retriever().tokens("Find {table-name} in from_roman; LRUCache.get() returns None 1024 times")
    assert words_of == ["find", "table", "name", "roman", "lru", "cache", "get", "returns", "times"]


def test_the_index_is_rebuilt_only_when_entries_change():
    retriever = BM25Retriever()
    entries = categories()
    retriever.rank("a query", entries)
    index = retriever._cache[1]
    retriever.rank("another query", list(entries))
    assert retriever._cache[1] is index
    entries[0] = Workflow(**{**entries[0].to_dict(), "version": 2, "steps": ["completely new steps"]})
    retriever.rank("another query", entries)
    assert retriever._cache[1] is not index


# ---- choosing within the budget


def test_the_budget_is_never_exceeded():
    rng = random.Random(20240601)
    pool = categories() + distractors()
    filler = "reproduce locate normalise boundary parser state cache release version table entry".split()
    for trial in range(150):
        entries = []
        for n, base in enumerate(rng.sample(pool, rng.randint(0, len(pool)))):
            steps = base.steps + [" ".join(rng.choices(filler, k=rng.randint(1, 40)))
                                  for _ in range(rng.randint(0, 4))]
            entries.append(Workflow(id=f"{base.id}-{n}", name=base.name, description=base.description, steps=steps,
                                    kind=rng.choice([WORKFLOW, WORKFLOW, PITFALL]),
                                    source_instances=rng.sample(["lib-x", "lib-y", "lib-z"], rng.randint(0, 1)),
                                    pinned=rng.random() < 0.15, disabled=rng.random() < 0.1))
        mem = memory_with(entries)
        _, _, issue = rng.choice(ISSUES)
        count = rng.choice([words, lambda text: len(text) // 4 + (1 if text else 0)])
        budget, top_k, min_score = rng.randint(0, 1200), rng.randint(0, 8), rng.choice([0.0, 0.02, MIN_SCORE, 0.1])
        retriever = BM25Retriever()
        sel = pick(mem, issue, "lib-x", budget_tokens=budget, top_k=top_k, min_score=min_score, count=count,
                   retriever=retriever)
        assert sel.tokens <= budget, trial
        assert sel.tokens == count(sel.block) and sel.block == (mem.render(sel.entries) if sel.entries else "")
        assert len(sel.entries) <= top_k and len({w.id for w in sel.entries}) == len(sel.entries)
        eligible = {w.id for w in mem.active() if "lib-x" not in w.source_instances}
        assert {w.id for w in sel.entries} <= eligible
        assert all(w.pinned or sel.scores[w.id] >= min_score for w in sel.entries)
        # prompt order: workflows, then pitfalls; and nothing that would still have fitted was left out
        kinds = [w.kind for w in sel.entries]
        assert kinds == sorted(kinds, key=lambda k: k == PITFALL)
        ranked = dict((w.id, s) for w, s in retriever.rank(issue, mem.active()))
        for w in mem.active():
            if w.id in eligible and w not in sel.entries and (w.pinned or ranked[w.id] >= min_score):
                assert len(sel.entries) >= top_k or count(mem.render(sel.entries + [w])) > budget, (trial, w.id)


def test_pinned_entries_come_first_and_disabled_ones_never():
    entries = categories()
    by_id = {w.id: w for w in entries}
    by_id["wf-lookup"].pinned = True  # pinned, though the issue is about state
    by_id["wf-state"].disabled = True
    _, _, issue = ISSUES[15]  # lib-16, an LRU cache issue
    sel = pick(memory_with(entries), issue)
    assert sel.entries[0].id == "wf-lookup" and "wf-state" not in sel.ids
    # a pinned entry still has to fit
    tight = pick(memory_with(entries), issue, budget_tokens=words(memory_with([]).render([by_id["wf-ordering"]])))
    assert "wf-lookup" not in tight.ids


def test_the_issues_own_workflow_is_never_injected():
    entries = categories()
    own = next(w for w in entries if w.id == "wf-state")
    own.source_instances = ["lib-3", "lib-16"]
    own.pinned = True
    _, _, issue = ISSUES[15]  # lib-16
    for budget in (True, False):
        sel = pick(memory_with(entries), issue, "lib-16", budget=budget)
        assert "wf-state" not in sel.ids and sel.excluded == ["wf-state"]
        assert "## Workflow: Update internal state" not in sel.block
    # another issue of the same category gets it
    assert pick(memory_with(entries), ISSUES[16][2], "lib-17").entries[0].id == "wf-state"


def test_top_k_counts_pinned_entries():
    entries = categories()
    entries[0].pinned = True
    sel = pick(memory_with(entries), ISSUES[6][2], top_k=2, min_score=0.0)
    assert len(sel.entries) == 2 and sel.entries[0].id == entries[0].id


def test_retrieval_all_injects_everything_eligible_in_memory_order():
    entries = categories() + [entry("bites", DISTRACTORS[0], kind=PITFALL)]
    entries[2].disabled = True
    entries[3].source_instances = ["lib-1"]
    sel = pick(memory_with(entries), "unrelated words", "lib-1", retriever=AllRetriever(), budget=False,
               budget_tokens=10, top_k=1, min_score=0.9)
    assert sel.ids == [w.id for w in entries if w not in (entries[2], entries[3])]
    assert sel.tokens == words(sel.block) > 10 and set(sel.scores.values()) == {1.0}
    assert sel.block.index("# Pitfalls") > sel.block.index("## Workflow")


def test_selection_records_what_experience_keeps():
    entries = categories()
    entries[0].version, entries[0].round = 3, 7
    sel = pick(memory_with(entries), ISSUES[1][2])
    records = sel.records()
    assert [r["id"] for r in records] == sel.ids
    assert records[0] == {"id": "wf-lookup", "kind": WORKFLOW, "version": 3, "round": 7,
                          "score": round(sel.scores["wf-lookup"], 4)}
    assert Selection([], {}, 0, "").records() == []


# ---- embeddings, the factory, token counting


VOCAB = ["cache", "lru", "evict", "sort", "version", "order", "parse", "ini", "table", "entry"]


def bag_of_words(calls):
    def embed(texts):
        calls.append(list(texts))
        return [[float(text.lower().count(word)) for word in VOCAB] for text in texts]

    return embed


def test_embedding_retriever_ranks_by_cosine_and_embeds_each_version_once():
    calls = []
    retriever = EmbeddingRetriever("fake-embedding", bag_of_words(calls))
    cache = Workflow(id="wf-cache", name="LRU cache", description="evict the least recently used cache entry",
                     steps=["cache get", "cache put"])
    sort = Workflow(id="wf-sort", name="Sort versions", description="version order", steps=["sort key", "order"])
    ranked = retriever.rank("the LRU cache evicts the wrong entry", [sort, cache])
    assert [w.id for w, _ in ranked] == ["wf-cache", "wf-sort"] and ranked[0][1] > 0.8 and ranked[1][1] < 0.2
    assert len(calls) == 1 and len(calls[0]) == 3  # both entries and the query in one call
    retriever.rank("sort the versions", [sort, cache])
    assert calls[-1] == ["sort the versions"]  # cached entries are not embedded again
    retriever.rank("sort the versions", [sort, Workflow(**{**cache.to_dict(), "version": 2})])
    assert len(calls[-1]) == 2  # a new version is


def test_an_unusable_embedding_answer_is_a_named_fault_and_caches_nothing():
    calls, answers = [], []
    good = bag_of_words(calls)

    def embed(texts):
        vectors = good(texts)
        return answers.pop(0)(vectors) if answers else vectors

    retriever = EmbeddingRetriever("openai/emb", embed)
    sort = Workflow(id="wf-sort", name="Sort versions", description="version order", steps=["sort key", "order"])
    answers.append(lambda vectors: [[float("nan")] * len(v) for v in vectors])
    with pytest.raises(retrieval.EmbeddingFault, match="openai/emb gave 2 of 2 vector.s. with NaN"):
        retriever.rank("sort the versions", [sort])
    assert retriever.rank("sort the versions", [sort])[0][1] > 0.5
    assert len(calls[-1]) == 2  # the entry is embedded again: the faulty answer was not cached
    answers.append(lambda vectors: [v[:-1] for v in vectors])  # one dimension short
    with pytest.raises(retrieval.EmbeddingFault, match="wrongly sized"):
        retriever.rank("another text", [sort])
    answers.append(lambda vectors: [])  # no vector
    with pytest.raises(retrieval.EmbeddingFault, match="0 vectors for 1 texts"):
        retriever.rank("a third text", [sort])

    def down(texts):
        raise ConnectionError("Connection refused")

    retriever.embed = down
    with pytest.raises(retrieval.EmbeddingFault, match="openai/emb failed: the model could not be reached"):
        retriever.rank("a fourth text", [sort])


def test_litellm_embedder_reads_vectors_in_input_order(monkeypatch):
    seen = {}

    class FakeLitellm:
        @staticmethod
        def embedding(model, input, **kwargs):
            seen.update(model=model, input=input, **kwargs)
            # litellm returns objects or dicts with an index; keep the input order whatever the reply order
            return type("Response", (), {"data": [{"index": 1, "embedding": [0.0, 1.0]},
                                                   type("Item", (), {"index": 0, "embedding": [1.0, 0.0]})()]})()

    monkeypatch.setattr("awm.model.client.import_litellm", lambda: FakeLitellm)
    embed = litellm_embedder("text-embedding-3-small", api_key="k")
    assert embed(["a", "b"]) == [[1.0, 0.0], [0.0, 1.0]]
    assert seen == {"model": "text-embedding-3-small", "input": ["a", "b"], "api_key": "k"}


def test_make_retriever():
    assert isinstance(make_retriever("bm25"), BM25Retriever)
    assert isinstance(make_retriever("all"), AllRetriever)
    assert isinstance(make_retriever("embedding", "text-embedding-3-small"), EmbeddingRetriever)
    assert isinstance(make_retriever("embedding", embed=bag_of_words([])), EmbeddingRetriever)
    with pytest.raises(ValueError, match="embedding_model"):
        make_retriever("embedding")
    with pytest.raises(ValueError, match="bm25, embedding, all"):
        make_retriever("tfidf")


def test_count_tokens_falls_back_to_a_length_estimate(monkeypatch):
    class Broken:
        @staticmethod
        def token_counter(model, text):
            raise RuntimeError("no tokenizer")

    monkeypatch.setattr("awm.model.client.import_litellm", lambda: Broken)
    assert count_tokens("x" * 40, "some/model") == 11
    assert count_tokens("", "some/model") == 0


@pytest.mark.slow
def test_real_token_counts_keep_the_block_within_budget():
    count = lambda text: count_tokens(text, "openai/scripted-awm")  # noqa: E731 - the demo's model name
    assert count("hello world") == 2
    mem = memory_with(categories() + distractors())
    for budget in (150, 300, 600):
        sel = pick(mem, ISSUES[10][2], budget_tokens=budget, min_score=0.0, top_k=20, count=count)
        assert sel.entries and sel.tokens == count(sel.block) <= budget
