"""The run spec: what a run does, read from YAML and validated with file/line/field in every error.

The spec's dataclasses below are its schema, written once: each setting's type (a `Literal` for a choice, its choices
taken from the module that owns them), default, range, example and one-line doc, and the command-line flag that sets
it, if any (`setting(...)`). Validation (FIELDS), the flags (FLAGS: awm-tui's parser and OVERRIDE_FLAGS), the Python
API's AWMConfig (awm.api) and the README's field table (`python -m awm.spec --table`) are derived from them."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import sys
import types
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from awm import demo
from awm.errors import UserError, where
from awm.grading import Backend
from awm.memory import Retrieval
from awm.model.tables import load_llm_table

# ---------------------------------------------------------------- the schema's vocabulary


@dataclass(frozen=True)
class Flag:
    """An `awm-tui` flag that sets a spec field: its name, its help, and how it takes its value."""

    name: str  # e.g. --workers
    help: str
    metavar: str | None = None
    const: Any = None  # a flag without a value (--quiet): the value it sets
    repeat: bool = False  # repeatable, each time one value of the list (--repo-filter)

    @property
    def dest(self) -> str:
        """The argparse attribute the flag's value lands in."""
        return self.name.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Setting:
    """What the schema knows of a field besides its type and default (`setting(...)` puts it in the field's
    metadata)."""

    doc: str  # one line: what the field does
    lo: float | None = None
    above: bool = False  # lo itself is not allowed
    hi: float | None = None
    eg: Any = None  # example for messages; default: the field's default
    flag: Flag | None = None
    kind: str | None = None  # when the type does not say it: strs, recipes, llm, repos
    optional: bool | None = None  # null allowed; default: the type has `| None`
    key: str | None = None  # the name in a spec file, where it is not the field's (memory.from: start_from)


def setting(default: Any = MISSING, *, doc: str, factory: Any = None, repr: bool = True, **details: Any) -> Any:
    """A spec field: a dataclass field whose metadata carries its Setting (doc, range, example, flag)."""
    metadata = {"setting": Setting(doc, **details)}
    if factory is not None:
        return field(default_factory=factory, repr=repr, metadata=metadata)
    return field(default=default, repr=repr, metadata=metadata)


def section(cls: type | None, *, doc: str, flag: Flag | None = None) -> Any:
    """A spec section (`agent:`, `memory:`...): a field holding a dataclass of settings; `cls` None: required."""
    metadata = {"section": Setting(doc, flag=flag)}
    return field(metadata=metadata) if cls is None else field(default_factory=cls, metadata=metadata)


# The agents the SDK offers that can fix an issue (awm.agent.runner.AGENT_KINDS describes each; a test holds the two
# equal). Written here, not imported: the runner imports this module (BudgetSpec), so importing it back would be a
# cycle between the packages.
AgentKind = Literal["CodeActAgent", "ApplyPatchAgent", "GeminiAgent"]
# on: learned online; off: the no-memory baseline; frozen: `memory.from`'s memory as it is (a replay)
MemoryMode = Literal["on", "off", "frozen"]
_INT_FLAG = "N"

# ---------------------------------------------------------------- the spec


@dataclass
class LLMSpec:
    model: str = setting(doc="the model, in litellm's naming (openai/<name> + base_url for any OpenAI-compatible "
                         "server); scripted/NAME for the demo's scripted model", eg="openai/gpt-4o")
    base_url: str | None = setting(None, doc="the server's address", eg="http://localhost:8000/v1")
    api_key_env: str | None = setting(None, doc="the environment variable holding the key (keys never go in the "
                                      "spec)", eg="OPENAI_API_KEY")
    # resolved secret; never written anywhere
    api_key: str | None = setting(None, repr=False, doc="the key itself: only in a config.toml's [llm.NAME] table, "
                                  "never in a spec", eg="...")
    api_version: str | None = setting(None, doc="the API version (Azure)", eg="2024-06-01")
    temperature: float | None = setting(None, doc="sampling temperature", eg=0.0, lo=0)
    top_p: float | None = setting(None, doc="nucleus sampling", eg=1.0, lo=0, hi=1)
    max_output_tokens: int | None = setting(None, doc="at most this many tokens per reply", eg=4096, lo=1)
    input_cost_per_token: float | None = setting(None, doc="USD per prompt token, for a model litellm has no price "
                                                 "for", eg=0.0000025, lo=0)
    output_cost_per_token: float | None = setting(None, doc="USD per completion token", eg=0.00001, lo=0)
    num_retries: int = setting(3, doc="retries of a failed model call", lo=0)
    timeout: int | None = setting(None, doc="seconds a model call may take", eg=120, lo=0, above=True)
    reasoning_effort: str | None = setting(None, doc="for reasoning models: low, medium, high", eg="medium")
    custom_llm_provider: str | None = setting(None, doc="litellm's provider, where the model's name has none",
                                              eg="openai")
    scripted_latency_s: float = setting(0.0, doc="the scripted demo model only: seconds it waits before each reply "
                                        "(benchmarks)", lo=0)
    source: str = "inline"  # "inline" or "config.toml:[llm.NAME]" for messages and config.json

    @property
    def scripted(self) -> bool:
        return demo.is_scripted(self.model)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["api_key"] = "<redacted>" if self.api_key else None
        return data


@dataclass
class AgentSpec:
    kind: AgentKind = setting("CodeActAgent", doc="the agent: CodeActAgent (terminal, file editor), ApplyPatchAgent "
                              "(unified diffs) or GeminiAgent (read/write/edit file tools)",
                              flag=Flag("--agent-class", "the agent: CodeActAgent, ApplyPatchAgent or GeminiAgent "
                                        "(spec: agent.kind)", metavar="KIND"))
    max_iterations: int = setting(100, doc="agent steps per issue", lo=1,
                                  flag=Flag("--max-iterations", "at most N agent steps per issue "
                                            "(spec: agent.max_iterations)", metavar=_INT_FLAG))
    timeout_minutes: float = setting(30.0, doc="wall clock per issue", lo=0, above=True)
    include_hints: bool = setting(False, doc="give the agent the issue's hints_text too")
    # local: on this machine; docker: in the instance's image; remote: on agent servers; remote-api: OpenHands'
    # hosted runtime API
    workspace: Literal["local", "docker", "remote", "remote-api"] = setting(
        "local", doc="where the agent's commands run: local (this machine), docker (the instance's image), remote "
        "(agent servers), remote-api (OpenHands' hosted runtime)")
    # tmux: faster start, but may lose a first command's output under load
    terminal: Literal["subprocess", "tmux"] = setting("subprocess", doc="the agent's shell; tmux starts faster but "
                                                      "can lose a first command's output under load")
    # local workspace: auto (bubblewrap where it runs, else unconfined with a warning) | bwrap (refused where it
    # cannot run) | none (unconfined); see awm.agent.sandbox. Other workspaces isolate the agent themselves.
    sandbox: Literal["auto", "bwrap", "none"] = setting("auto", doc="local workspace: auto (bubblewrap where it "
                                                        "runs, else a warning), bwrap (or no run), none (unconfined)")
    server_image: str | None = setting(None, doc="docker workspace: an agent-server image (a template with "
                                       "{instance_id}, {image})", eg="my-registry/agent-server:{instance_id}")
    sdk_root: str | None = setting(None, doc="docker workspace: a software-agent-sdk checkout to build agent-server "
                                   "images from", eg="~/src/software-agent-sdk")
    servers: list[str] = setting(doc="remote workspace: agent-server URLs, one issue each at a time", factory=list,
                                 eg=["http://10.0.0.5:8000", "http://10.0.0.6:8000"])
    server_key_env: str | None = setting(None, doc="remote workspace: the variable holding the servers' session API "
                                         "key", eg="AGENT_SERVER_KEY")
    runtime_api_url: str = setting("https://runtime.all-hands.dev", doc="remote-api workspace: the hosted runtime "
                                   "API")
    runtime_api_key_env: str | None = setting(None, doc="remote-api workspace: the variable holding its key",
                                              eg="RUNTIME_API_KEY")


@dataclass
class DatasetSpec:
    name: str = setting("princeton-nlp/SWE-bench", doc="the issues: a hub name, or a local .json/.jsonl/.parquet "
                        "file in SWE-bench format",
                        flag=Flag("--dataset", "the issues: a Hugging Face dataset (e.g. princeton-nlp/SWE-bench_Lite) "
                                  "or a local .json/.jsonl/.parquet file (spec: dataset.name)", metavar="NAME"))
    split: str = setting("test", doc="the dataset's split",
                         flag=Flag("--split", "the dataset's split, e.g. test (spec: dataset.split)", metavar="SPLIT"))
    repo_filter: list[str] = setting(doc="only these repositories' issues (a repo or a list)", kind="strs",
                                     factory=lambda: ["django/django"],
                                     flag=Flag("--repo-filter", "only the issues of REPO (owner/name, e.g. "
                                               "django/django); repeatable (spec: dataset.repo_filter)",
                                               metavar="REPO", repeat=True))
    instance_ids: list[str] = setting(doc="only these, in this order", factory=list, eg=["django__django-11099"])
    limit: int | None = setting(None, doc="at most this many issues (the first N by id, whatever the order)", lo=1,
                                eg=10, flag=Flag("--limit", "process at most N issues", metavar=_INT_FLAG))
    # the order issues are taken in: id (instance id; instance_ids' own order when given), chronological (the
    # records' created_at, ties by id) or shuffle (seeded by `seed`; 0 when not given). `limit` picks the issues first
    # (the first N by id), so runs in different orders work on the same issues and pair on all of them.
    order: Literal["id", "chronological", "shuffle"] = setting("id", doc="the order issues are taken in: id, "
                                                               "chronological (created_at) or shuffle (by seed)")
    seed: int | None = setting(None, doc="shuffle's seed (0 when not given)", lo=0, eg=1)


@dataclass
class EvaluationSpec:
    backend: Backend = setting("local", doc="how patches are graded: local, swebench-docker, swebench-modal or none",
                               flag=Flag("--skip-evaluation", "do not evaluate patches (verdicts: SKIPPED)",
                                         const="none"))
    timeout_minutes: float = setting(30.0, doc="the tests' time limit per issue", lo=0, above=True)
    # repo -> version or "*" -> recipe
    recipes: dict[str, dict[str, dict[str, Any]]] = setting(doc="local backend: how to install and test each "
                                                            "repository's versions", factory=dict, kind="recipes",
                                                            optional=True)
    keep_images: bool = setting(False, doc="swebench-docker: keep instance images after grading (disk!)")
    min_free_gb: float = setting(50.0, doc="swebench-docker: prune dangling images below this much free disk", lo=0)


@dataclass
class InductionSpec:
    trigger: int = setting(10, doc="induce workflows every N successes", lo=1,
                           flag=Flag("--induction-trigger", "induce workflows every N successes", metavar=_INT_FLAG))
    # per kind (workflows, pitfalls); past it, eviction by usefulness (awm.memory.store)
    max_workflows: int = setting(50, doc="memory capacity, per kind (workflows, pitfalls); past it, eviction by "
                                 "usefulness", lo=1,
                                 flag=Flag("--max-workflows", "keep at most N workflows in memory",
                                           metavar=_INT_FLAG))
    # what enters memory: tests (hidden tests pass) | judge (an LLM judge) | tests+judge (both)
    success: Literal["tests", "judge", "tests+judge"] = setting("tests", doc="what enters memory: tests (the hidden "
                                                                "tests pass), judge (an LLM judge) or both")
    from_failures: bool = setting(False, doc="failed attempts induce pitfalls, every `trigger` failures")
    budget_tokens: int = setting(6000, doc="each trajectory is condensed to this many tokens for induction and the "
                                 "judge", lo=200)
    llm: LLMSpec | None = setting(None, doc="the model that induces, merges and judges (a mapping or a [llm.NAME] "
                                  "table); null: the agent's", kind="llm",
                                  eg={"model": "openai/gpt-4o-mini", "temperature": 0.0})


@dataclass
class BudgetSpec:
    """Spending limits; None: no limit. At the run's limit the run stops, resumably; at an issue's, its agent stops
    and the issue is recorded with the reason."""

    max_cost_usd: float | None = setting(None, doc="the run's total cost (agent, induction, judge)", eg=50.0, lo=0,
                                         above=True)
    max_tokens: int | None = setting(None, doc="the run's total tokens, prompt and completion", eg=20_000_000, lo=0,
                                     above=True)
    issue_max_cost_usd: float | None = setting(None, doc="one issue's cost", eg=2.0, lo=0, above=True)
    issue_max_tokens: int | None = setting(None, doc="one issue's tokens", eg=2_000_000, lo=0, above=True)


@dataclass
class MemorySpec:
    # on: learned online (induction, usefulness, edits); off: the no-memory baseline (no induction, nothing
    # injected); frozen: `memory.from`'s memory given as it is (retrieval as usual; no induction, no merge or
    # eviction, no usefulness counts, no edits): what a replay (`awm-tui replay`) runs with
    enabled: MemoryMode = setting("on", doc="on (learned online), off (the no-memory baseline) or frozen "
                                  "(memory.from's memory as it is: a replay); `memory: off` for short",
                                  flag=Flag("--memory", "off: the baseline, no workflows learned or given; frozen: "
                                            "memory.from's memory given as it is, never changed (spec: memory, or "
                                            "memory.enabled)", metavar="on|off|frozen"))
    retrieval: Retrieval = setting("bm25", doc="how entries are chosen: bm25, embedding, or all (every entry, no "
                                   "budget)")
    budget_tokens: int = setting(1500, doc="the memory block in the agent's prompt, counted with the model's "
                                 "tokenizer", lo=50)
    min_score: float | None = setting(None, doc="below it nothing is injected; null: the retrieval's own (bm25 "
                                      "0.05, embedding 0.3)", eg=0.05, lo=0)
    top_k: int = setting(5, doc="at most this many entries injected", lo=1)
    embedding_model: str | None = setting(None, doc="retrieval: embedding: a litellm embedding model at llm's "
                                          "address and key", eg="openai/text-embedding-3-small")
    merge: Literal["similarity", "llm"] = setting("similarity", doc="a near-duplicate replaces its match with the "
                                                  "new text (similarity), or the model merges the two (llm)")
    merge_threshold: float = setting(0.75, doc="similarity (0..1) of name, description and steps at which two "
                                     "workflows merge", lo=0, above=True, hi=1)
    grace: int = setting(3, doc="issues a workflow must have been injected into before usefulness can evict it", lo=0)
    baseline_run: str | None = setting(None, doc="a `memory: off` run on the same instances: helped/hurt counts per "
                                       "workflow", eg="demo-baseline")
    start_from: str | None = setting(None, doc="another run (id or folder) or a memory.json: its memory to start "
                                     "with", eg="runs/train/memory.json", key="from")
    # entries (ids) never given to the agent, as if not in memory (left out of the ranking too): an ablation
    # (`awm-tui experiment --ablate`) measures what one entry does by a frozen replay without it
    withhold: list[str] = setting(doc="entries (ids) never given to the agent, as if not in memory: an ablation",
                                  factory=list, eg=["wf-fix-an-incomplete-lookup-table"])
    adherence: Literal["lexical", "judge", "off"] = setting("lexical", doc="how far each issue followed the entries "
                                                            "given: lexical, judge or off")

    @property
    def on(self) -> bool:
        """Memory learns during the run (induction, usefulness counts, edits)."""
        return self.enabled == "on"

    @property
    def retrieves(self) -> bool:
        """Entries are retrieved and given to the agent: memory on, or frozen."""
        return self.enabled in ("on", "frozen")

    @property
    def frozen(self) -> bool:
        return self.enabled == "frozen"

    @property
    def threshold(self) -> float:
        return MIN_SCORES.get(self.retrieval, 0.0) if self.min_score is None else self.min_score


# The default minimum score per retrieval: bm25's score is the share of an entry's own BM25 weight the issue matches
# (its own category's workflow scores about 0.1 on the demo, others under 0.05); an embedding's is a cosine, where
# unrelated texts of one repository already score 0.1-0.2.
MIN_SCORES = {"bm25": 0.05, "embedding": 0.3, "all": 0.0}


@dataclass
class RunSpec:
    llm: LLMSpec = section(None, doc="the model: inline settings, or the name of a [llm.NAME] table of an OpenHands "
                           "config.toml",
                           flag=Flag("--llm-config", "use [llm.NAME] of config.toml as the model; with no spec, the "
                                     "flags run on awm-tui's defaults (specs/django.yaml), and config.toml's [awm] "
                                     "tables set the fields no flag reaches (e.g. [awm.agent] workspace = \"local\")",
                                     metavar="NAME"))
    name: str = setting("run", doc="the run's name, its folder's under the runs folder (default: the spec file's "
                        "name)", eg="django-demo")
    agent: AgentSpec = section(AgentSpec, doc="the agent")
    dataset: DatasetSpec = section(DatasetSpec, doc="the issues")
    repos: dict[str, str] = setting(doc="where each repository is cloned from: a git URL or a local path",
                                    factory=dict, kind="repos")
    evaluation: EvaluationSpec = section(EvaluationSpec, doc="the grading")
    induction: InductionSpec = section(InductionSpec, doc="learning workflows")
    output_dir: str | None = setting(None, doc="the run's folder (default: under the user data dir)", eg="runs/demo",
                                     flag=Flag("--output-dir", "the run's folder (default: under the user data dir)",
                                               metavar="DIR"))
    checkpoint_interval: int = setting(5, doc="a checkpoint event every N issues (the journal is committed every "
                                       "issue)", lo=1)
    max_consecutive_errors: int = setting(3, doc="stop after this many same-cause errors in a row", lo=1)
    verbose: bool = setting(True, doc="headless: a line per issue (false: only the start and the summary)",
                            flag=Flag("--quiet", "print only the start and the final summary", const=False))
    memory: MemorySpec = section(MemorySpec, doc="the workflow memory (or `memory: on|off|frozen`)")
    budget: BudgetSpec = section(BudgetSpec, doc="spending limits")
    workers: int = setting(1, doc="issues in flight at once, started in dataset order", lo=1,
                           flag=Flag("--workers", "up to K issues in flight at once (spec: workers; memory then lags "
                                     "by up to K-1 issues, bounded by max_staleness)", metavar="K"))
    max_staleness: int | None = setting(None, doc="issue i starts once every issue before i - s is finished; null: "
                                        "workers - 1", lo=0, eg=1)
    path: str | None = None  # the spec file this came from, for messages
    # the command line's flags it was loaded with, as spec fields (paths absolute): recorded in config.json, so that
    # a resume runs with them again (not a spec field: not in `public()`)
    flags: dict[str, Any] = field(default_factory=dict)
    # a replay (awm.run.replay): the run it replays, {"run_dir", "run_id"}, recorded in config.json when the run
    # folder is made (not a spec field: not in `public()`)
    replay_of: dict[str, str] | None = None
    packaged: bool = False  # a run without a spec, on the packaged defaults (launch_spec): its messages say so

    @property
    def label(self) -> str | None:
        """The spec as messages name it: its file, or for a run without a spec, what that file is to the user."""
        return packaged_label(self.path) if self.packaged and self.path else self.path

    def public(self) -> dict[str, Any]:
        """Everything about the run except secrets: what config.json holds."""
        data = asdict(self)
        data.pop("flags", None)
        data.pop("packaged", None)
        data.pop("replay_of", None)
        data["llm"] = self.llm.public()
        if self.induction.llm is not None:
            data["induction"]["llm"] = self.induction.llm.public()
        return data

    def fingerprint(self) -> dict[str, Any]:
        """The fields that decide what a run means; resuming with any of them changed is refused."""
        return {
            "model": self.llm.model,
            "dataset": self.dataset.name,
            "split": self.dataset.split,
            "repo_filter": sorted(self.dataset.repo_filter),
            "instance_ids": list(self.dataset.instance_ids),
            "order": self.dataset.order,
            "order_seed": self.dataset.seed if self.dataset.order == "shuffle" else None,
            "evaluation": self.evaluation.backend,
            "induction_trigger": self.induction.trigger,
            "memory": self.memory.enabled,
            "retrieval": self.memory.retrieval,
            "induction_success": self.induction.success,
            "from_failures": self.induction.from_failures,
            "withhold": sorted(self.memory.withhold),
        }

    def fingerprint_digest(self) -> str:
        return hashlib.sha256(json.dumps(self.fingerprint(), sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- loading

BUILTIN_DATASET = demo.BUILTIN
_DATA_SUFFIXES = (".json", ".jsonl", ".parquet")
_INLINE = object()  # marks `llm:` given as a mapping; its keys are the "llm.*" entries


@dataclass
class SpecFile:
    """Top-level keys of a spec file that are not the run's own: read while loading it, not recorded."""

    llm_config_file: str | None = setting(None, doc="the OpenHands config.toml `llm: NAME` is read from (default: "
                                          "next to the spec, then ./config.toml, then ~/.openhands/config.toml)",
                                          eg="config.toml")


# ---------------------------------------------------------------- the schema, derived from the dataclasses


@dataclass(frozen=True)
class _Field:
    """A field as validation checks it (derived from its type and Setting; RECIPE_FIELDS are written as these)."""

    kind: str  # str | choice | int | float | bool | strs (a string or list of strings) | list (of strings)
    lo: float | None = None
    above: bool = False  # lo itself is not allowed
    hi: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False  # null allowed
    eg: Any = None  # example for messages; default: the field's default


@dataclass(frozen=True)
class Entry:
    """One spec field: its dotted key as a spec file names it (memory.from), the dataclass attribute that holds it
    (start_from), its Setting and its check."""

    key: str
    attr: str
    setting: Setting
    check: _Field
    section: bool = False  # a whole section (`llm`), named here only for its flag


_KINDS = {bool: "bool", int: "int", float: "float", str: "str"}


def _check_of(hint: Any, meta: Setting) -> _Field:
    """The check a field's type and Setting make: `X | None` allows null, a Literal is a choice of its values."""
    optional = False
    if get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint):
        optional = True
        rest = [a for a in get_args(hint) if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007 (built at run time)
    choices: tuple[str, ...] = get_args(hint) if get_origin(hint) is Literal else ()
    kind = meta.kind or ("choice" if choices else "list" if get_origin(hint) is list else _KINDS.get(hint))
    if kind is None:
        raise TypeError(f"a spec field of type {hint} needs `kind=` in its setting()")
    return _Field(kind, lo=meta.lo, above=meta.above, hi=meta.hi, choices=choices,
                  optional=optional if meta.optional is None else meta.optional, eg=meta.eg)


def _entries_of(cls: type, prefix: str = "") -> Iterator[Entry]:
    hints = get_type_hints(cls)
    for f in fields(cls):
        if "setting" in f.metadata:
            meta: Setting = f.metadata["setting"]
            yield Entry(prefix + (meta.key or f.name), f.name, meta, _check_of(hints[f.name], meta))


def _entries() -> list[Entry]:
    """Every spec field, the top level's first (RunSpec's, then SpecFile's), then each section's, in the order the
    dataclasses declare them."""
    hints = get_type_hints(RunSpec)
    own = {e.attr: e for e in _entries_of(RunSpec)}
    top: list[Entry] = []
    nested: list[Entry] = []
    for f in fields(RunSpec):
        if "section" in f.metadata:
            meta = f.metadata["section"]
            if meta.flag:
                top.append(Entry(f.name, f.name, meta, _Field("str"), section=True))
            nested.extend(_entries_of(hints[f.name], f.name + "."))
        elif f.name in own:
            top.append(own[f.name])
    return top + list(_entries_of(SpecFile)) + nested


def sections() -> dict[str, type]:
    """The spec's sections (`agent:`...) and the dataclass each is."""
    hints = get_type_hints(RunSpec)
    return {f.name: hints[f.name] for f in fields(RunSpec) if "section" in f.metadata}


def top_level() -> list[tuple[str, Any, bool]]:
    """The keys a spec's top level holds, in RunSpec's order (then SpecFile's): (key, type, whether a section). The
    Python API's AWMConfig takes these (awm.api)."""
    out = []
    for cls in (RunSpec, SpecFile):
        hints = get_type_hints(cls)
        out += [(f.name, hints[f.name], "section" in f.metadata) for f in fields(cls)
                if "setting" in f.metadata or "section" in f.metadata]
    return out


ENTRIES: list[Entry] = []  # every spec field (derive())
FIELDS: dict[str, _Field] = {}  # what validation checks, by dotted key (no `repos`: checked by _repos)
FLAGS: dict[str, Flag] = {}  # awm-tui's flags that set spec fields, by the field (or `llm`) they set
# The flags the CLI maps onto `overrides`, so a bad flag value is reported under the flag's name.
OVERRIDE_FLAGS: dict[str, str] = {}
TOP_KEYS: list[str] = []
_ATTRS: dict[str, str] = {}  # dotted key -> dotted attribute, where they differ (memory.from -> memory.start_from)
_DEFAULTS: dict[str, Any] = {}
_SPEC_FILE = {f.name for f in fields(SpecFile)}


def as_written(section_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A section's values (by its dataclass's attributes, as config.json records them) by the keys a spec file
    names them: memory's `start_from` is `from`.

    Args:
        section_name: the section, e.g. `memory`.
        values: attribute -> value.

    Returns:
        key -> value, in the same order.
    """
    written = {attr.split(".", 1)[1]: key.split(".", 1)[1] for key, attr in _ATTRS.items()
               if key.startswith(section_name + ".")}
    return {written.get(k, k): v for k, v in values.items()}


def derive() -> None:
    """Fill the tables above from the dataclasses (at import; again if a test extends a dataclass). In place: a
    module that imported FIELDS sees the new one."""
    entries = _entries()
    ENTRIES[:] = entries
    FIELDS.clear()
    FIELDS.update({e.key: e.check for e in entries if not e.section and e.check.kind != "repos"})
    FLAGS.clear()
    FLAGS.update({e.key: e.setting.flag for e in entries if e.setting.flag})
    OVERRIDE_FLAGS.clear()
    OVERRIDE_FLAGS.update({key: flag.name for key, flag in FLAGS.items()})
    _ATTRS.clear()
    _ATTRS.update({e.key: e.key.rsplit(".", 1)[0] + "." + e.attr for e in entries if "." in e.key
                   and e.key.rsplit(".", 1)[1] != e.attr})
    TOP_KEYS[:] = [k for k in FIELDS if "." not in k] + [*SECTIONS, "repos", "skip_evaluation", *ALIASES]
    _DEFAULTS.clear()
    _DEFAULTS.update(RunSpec(llm=LLMSpec(model="")).public())


SECTIONS = tuple(sections())
ALIASES = {  # the seed's flat names
    "llm_config_name": "llm",
    "agent_class": "agent.kind",
    "max_iterations": "agent.max_iterations",
    "dataset_name": "dataset.name",
    "split": "dataset.split",
    "repo_filter": "dataset.repo_filter",
    "induction_trigger_count": "induction.trigger",
    "max_workflows": "induction.max_workflows",
}


def _opt(kind: str = "str", eg: Any = None, **kw: Any) -> _Field:
    return _Field(kind, optional=True, eg=eg, **kw)


_STR, _BOOL = _Field("str"), _Field("bool")
# One local test recipe under `evaluation.recipes.<repo>.<version or "*">` (see awm.grading.recipes).
RECIPE_FIELDS: dict[str, _Field] = {
    "python": _Field("str", eg='"3.11"'),
    "requirements": _Field("strs", eg=["requirements.txt"]),
    "pip_packages": _Field("strs", eg=["pytest==8.3.3"]),
    "pre_install": _Field("strs", eg=["sed -i 's/a/b/' setup.cfg"]),
    "install": _opt(eg="python -m pip install -e ."),
    "test_cmd": _Field("str", eg="pytest -rA"),
    "eval_commands": _Field("strs", eg=["export LANG=C.UTF-8"]),
    "log_parser": _Field("str", eg="pytest"),
}
_RECIPE_EXAMPLE = 'recipes: {acme/app: {"1.2": {python: "3.11", requirements: [requirements.txt], test_cmd: pytest}}}'
_SECTION_EXAMPLES = {
    "llm": "model: openai/gpt-4o, api_key_env: OPENAI_API_KEY",
    "agent": "kind: CodeActAgent, max_iterations: 100",
    "dataset": "name: princeton-nlp/SWE-bench, split: test, limit: 10",
    "evaluation": "backend: local, timeout_minutes: 30",
    "induction": "trigger: 10, max_workflows: 50",
    "memory": "retrieval: bm25, budget_tokens: 1500",
    "budget": "max_cost_usd: 50, issue_max_cost_usd: 2",
}
derive()


class _Invalid(Exception):
    def __init__(self, problem: str, fix: str):
        self.problem, self.fix = problem, fix


@dataclass
class _At:
    """Where a value came from: a line of the spec, a command-line flag, or a config.toml table."""

    file: str
    line: int | None
    field: str
    flag: str | None = None
    base: Path | None = None  # the folder relative paths in this value are read from
    toml: bool = False

    def __str__(self) -> str:
        return f"{self.file}, option `{self.flag}`" if self.flag else where(self.file, self.line, self.field)

    def example(self, value: Any) -> str:
        shown = _yaml(value)
        if self.toml:
            return f"`{self.field} = {json.dumps(value)}`"
        if self.flag:
            if isinstance(value, list):  # a repeatable flag: one value each time
                shown = " ".join(f"{self.flag} {v}" for v in value)
                return f"`{shown}`"
            return f"`{self.flag}`" if isinstance(value, bool) else f"`{self.flag} {shown}`"
        return f"`{self.field.rsplit('.', 1)[-1]}: {shown}`"

    def fail(self, problem: str, fix: str) -> UserError:
        return UserError(f"{self}: {problem}. {fix}" + ("" if fix.endswith((".", "?")) else "."))


def load_spec(path: str | Path, overrides: dict | None = None, env: Mapping[str, str] | None = None,
              layer: dict[str, tuple[Any, _At]] | None = None, label: str | None = None) -> RunSpec:
    """Read and validate a run spec; every mistake raises UserError naming file, line, field and fix (the file as
    `label`, if given). `layer` (settings_layer's, a config.toml's [awm] table) is laid over the file, and the flags
    (`overrides`) over both; `repos` from either adds to the spec's repositories (per repository), as every other
    field replaces.

    Args:
        path: the YAML spec file.
        overrides: spec fields set by flags (dotted keys, e.g. `dataset.limit`, or `llm` for --llm-config); None
            values are left out. A bad value is reported under its flag (OVERRIDE_FLAGS).
        env: where `api_key_env` variables are read (default: os.environ).
        layer: fields from a config.toml's [awm] table (settings_layer), laid over the file.
        label: how messages name the file (default: `path`).

    Returns:
        The run spec, its relative paths made absolute and its model's key resolved.

    Raises:
        UserError: a mistake in the file, the layer or a flag: one paragraph naming where, the field and the fix.
        ValueError: an override key that is no spec field (a programming error, not the user's).
    """
    file = label or str(path)
    spec_path = Path(path).expanduser()
    spec_dir = spec_path.resolve().parent
    values = _flatten(_read_yaml(spec_path, file), file, spec_dir)
    flags = {}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in FIELDS and key not in ("llm", "repos"):
            raise ValueError(f"unknown override {key!r}")
        flag = OVERRIDE_FLAGS.get(key, "--" + key.replace(".", "-").replace("_", "-"))
        flags[key] = (value, _At(file, None, key, flag=flag, base=Path.cwd()))
    for given in (layer or {}, flags):
        for key, (value, at) in given.items():
            if key == "llm":
                values = {k: v for k, v in values.items() if not k.startswith("llm.")}
            if key == "repos" and "repos" in values:
                value = {**_repos(*values["repos"]), **_repos(value, at)}  # each resolved from its own folder
            values[key] = (value, at)
    spec = _build(values, file, spec_dir, os.environ if env is None else env, spec_path.stem)
    spec.path = str(path)
    return spec


PACKAGED_DEFAULTS = "django.yaml"  # what a run without a spec runs on (the flags and config.toml over it)


def packaged_spec(name: str = PACKAGED_DEFAULTS) -> Path:
    """A spec shipped with awm-tui: in an installed package, awm/specs/ (the wheel carries the checkout's specs/
    there, pyproject's force-include); in a checkout, specs/ itself. One file, so the two never differ.

    Args:
        name: the spec's file name (default: the packaged defaults, django.yaml).

    Returns:
        Its path (not checked to exist in a checkout).
    """
    installed = Path(__file__).resolve().parent / "specs" / name
    return installed if installed.is_file() else Path(__file__).resolve().parents[1] / "specs" / name


def packaged_label(path: str | Path) -> str:
    return f"{path} (awm-tui's defaults for a run without a spec: set fields in config.toml's [awm] table)"


def settings_layer(table: Any, label: str, base: Path, config_file: Path) -> dict[str, tuple[Any, _At]]:
    """A config.toml's [awm] table as spec fields laid over the packaged defaults (a run without a spec): the spec's
    own keys and sections in TOML (`[awm.agent]` `workspace = "local"`), checked as a spec's are, named in messages
    as `label`; relative paths are read from `base` (the config.toml's folder). The model is not set here: it is
    --llm-config's [llm.NAME] table.

    Args:
        table: the [awm] table as read from TOML.
        label: how messages name it, e.g. `config.toml [awm]`.
        base: the folder its relative paths are read from.
        config_file: the config.toml itself (its [llm.NAME] tables name the model).

    Returns:
        Dotted field -> (value, where), for load_spec's `layer`.

    Raises:
        UserError: a table that is not one of spec fields, an unknown key, or a model set here.
    """
    if not isinstance(table, dict):
        raise UserError(f"{label}: must be a table of spec fields, got {_kind(table)}. Write e.g. `[awm.agent]` with "
                        '`workspace = "local"` under it.')
    values = _flatten(table, label, base, toml=True)
    for key, (_, at) in values.items():
        if key == "llm" or key.startswith("llm.") or key == "llm_config_file":
            raise at.fail("the model of a run without a spec is named by --llm-config (a [llm.NAME] table of this "
                          "config.toml), not here", "Remove it from [awm] and pass `--llm-config NAME`")
    values["llm_config_file"] = (str(config_file), _At(label, None, "llm_config_file", base=base))  # the same file
    return values


def recorded_value(spec: RunSpec, key: str) -> Any:
    """A field's value as the run has it (paths resolved), to record a settings layer's field as a flag.

    Args:
        spec: the run spec.
        key: the dotted key, as a spec file names it (`memory.from`).

    Returns:
        The value in `spec.public()`, or None where there is none.
    """
    node: Any = spec.public()
    for part in _ATTRS.get(key, key).split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def spec_from_mapping(doc: Mapping[str, Any], label: str, base_dir: Path | None = None, *,
                      path: str | None = None, env: Mapping[str, str] | None = None) -> RunSpec:
    """A run spec from a mapping shaped like a YAML spec (the Python API's AWMConfig), validated as a file is:
    mistakes name `label` and the field. Relative paths are read from `base_dir` (default: the working directory);
    `path` is the spec file the mapping came from, if any.

    Args:
        doc: the mapping, shaped as a YAML spec (sections as mappings, the design's flat names allowed).
        label: how messages name it, e.g. `AWMConfig`.
        base_dir: the folder relative paths are read from (default: the working directory).
        path: the spec file the mapping came from, if any (the spec's `path`; its name is the run's default name).
        env: where `api_key_env` variables are read (default: os.environ).

    Returns:
        The run spec.

    Raises:
        UserError: a mistake, naming `label`, the field and the fix.
    """
    if not isinstance(doc, Mapping):
        raise UserError(f"{label}: a spec must be a mapping of `key: value`, got {_kind(doc)}.")
    base = (base_dir or Path.cwd()).resolve()
    spec = _build(_flatten(dict(doc), label, base), label, base, os.environ if env is None else env,
                  Path(path).stem if path else "run")
    spec.path = path
    return spec


def read_spec_file(path: str | Path) -> dict:
    """A spec file's mapping as written (not validated).

    Args:
        path: the YAML spec file.

    Returns:
        Its top-level mapping (ruamel's, which remembers lines).

    Raises:
        UserError: the file is missing, unreadable, not YAML, empty or not a mapping.
    """
    return _read_yaml(Path(path).expanduser(), str(path))


def _read_yaml(spec_path: Path, file: str) -> dict:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        text = spec_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        relative = "" if spec_path.is_absolute() else f" (relative to {Path.cwd()})"
        raise UserError(f"{file}: the spec file does not exist{relative}. Check the path.") from None
    except IsADirectoryError:
        raise UserError(f"{file}: is a folder, not a spec file. Give the path of a .yaml file.") from None
    except OSError as exc:
        raise UserError(f"{file}: the spec file cannot be read ({exc.strerror}). Check its permissions.") from None
    except UnicodeDecodeError:
        raise UserError(f"{file}: is not a text (UTF-8) file. Give the path of a YAML spec.") from None
    try:
        doc = YAML().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "syntax error").split(" with value")[0]
        raise UserError(
            f"{where(file, mark.line + 1 if mark else None)}: not valid YAML ({problem}). "
            "Fix the syntax at that line; common causes are a missing space after `:`, tabs, or uneven indentation."
        ) from None
    except YAMLError as exc:
        raise UserError(f"{file}: not valid YAML ({exc}). Fix the syntax of the file.") from None
    if doc is None:
        raise UserError(f"{file}: the spec is empty. It needs at least `llm:`, e.g. `llm: {{model: openai/gpt-4o}}`.")
    if not isinstance(doc, dict):
        raise UserError(
            f"{file}: the top level must be a mapping of `key: value` lines, got {_kind(doc)}. "
            "Start the file with e.g. `name: demo` and `llm: {model: openai/gpt-4o}`."
        )
    return doc


def _line(mapping: Any, key: Any) -> int | None:
    try:
        return mapping.lc.key(key)[0] + 1
    except (AttributeError, KeyError, TypeError):
        return None


def _flatten(doc: dict, file: str, spec_dir: Path, toml: bool = False) -> dict[str, tuple[Any, _At]]:
    """The spec as dotted field -> (raw value, where), with seed aliases and `skip_evaluation` mapped."""
    out: dict[str, tuple[Any, _At]] = {}
    aliased: list[tuple[str, Any, _At]] = []
    skip: tuple[Any, _At] | None = None
    for key, value in doc.items():
        at = _At(file, _line(doc, key), str(key), base=spec_dir, toml=toml)
        if key in ALIASES:
            aliased.append((ALIASES[key], value, at))
        elif key == "skip_evaluation":
            skip = (_check(_BOOL, value, at), at)
        elif key == "llm" and not isinstance(value, dict):
            if not isinstance(value, str):
                raise at.fail(
                    f"must be a mapping of model settings or the name of a [llm.NAME] table, got {_kind(value)}",
                    "Write e.g. `llm: {model: openai/gpt-4o, api_key_env: OPENAI_API_KEY}` or `llm: eval_gpt4`",
                )
            out["llm"] = (value, at)
        elif key == "memory" and not isinstance(value, dict):
            out["memory.enabled"] = (value, _At(file, at.line, "memory", base=spec_dir, toml=toml))  # `memory: off`
        elif key in SECTIONS:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise at.fail(
                    f"must be a mapping of `key: value` lines, got {_kind(value)}",
                    f"Indent the settings under `{key}:`, e.g. `{key}: {{{_SECTION_EXAMPLES[key]}}}`",
                )
            if key == "llm":
                out["llm"] = (_INLINE, at)
            for sub, subvalue in value.items():
                name = f"{key}.{sub}"
                sub_at = _At(file, _line(value, sub), name, base=spec_dir, toml=toml)
                if name not in FIELDS or name == "llm.api_key":
                    _unknown(sub_at, str(sub), [k.split(".", 1)[1] for k in FIELDS if k.startswith(key + ".")])
                out[name] = (subvalue, sub_at)
        elif key == "repos" or key in FIELDS:
            out[str(key)] = (value, at)
        else:
            _unknown(at, str(key), TOP_KEYS)
    for target, value, at in aliased:
        if target in out:
            raise at.fail(
                f"`{at.field}` and `{target}` are both given",
                f"Keep only `{target}` (`{at.field}` is its old flat name, still accepted on its own)",
            )
        out[target] = (value, at)
    if skip and skip[0]:
        backend = out.get("evaluation.backend")
        if backend and backend[0] != "none":
            raise skip[1].fail(
                f"`skip_evaluation: true` contradicts `evaluation.backend: {backend[0]}` (line {backend[1].line})",
                "Remove `skip_evaluation` and keep `evaluation.backend`, or set the backend to `none`",
            )
        out["evaluation.backend"] = ("none", skip[1])
    return out


def _unknown(at: _At, key: str, valid: list[str]) -> None:
    if at.field == "llm.api_key":
        raise at.fail(
            "a secret does not belong in the spec file",
            "Put the key in an environment variable and name it: `export OPENAI_API_KEY=...` and "
            "`api_key_env: OPENAI_API_KEY` (or use a [llm.NAME] table of config.toml, where `api_key` is allowed)",
        )
    nested = [k for k in FIELDS if k.endswith("." + key) and k != "llm.api_key" and "." not in at.field]
    close = difflib.get_close_matches(key, valid, n=1)
    if nested and at.toml:  # a config.toml's [awm] table
        section = nested[0].split(".")[0]
        hint = f"Did you mean `{nested[0]}`? Put it in the `[awm.{section}]` table: `{key} = ...`."
    elif nested:
        section = nested[0].split(".")[0]
        hint = f"Did you mean `{nested[0]}`? Move it under `{section}:`, indented, e.g. `{section}: {{{key}: ...}}`."
    else:
        hint = f"Did you mean `{close[0]}`?" if close else f"Valid keys here: {', '.join(valid)}."
    raise at.fail(f"unknown key `{key}`", hint)


def _build(values: dict[str, tuple[Any, _At]], file: str, spec_dir: Path, env: Mapping[str, str], stem: str) -> RunSpec:
    checked = {k: _check(FIELDS[k], v, at, k) for k, (v, at) in values.items() if k in FIELDS}
    if "dataset.name" in checked:
        checked["dataset.name"] = _dataset_name(checked["dataset.name"], values["dataset.name"][1])
    if checked.get("output_dir"):
        checked["output_dir"] = str(_local(checked["output_dir"], values["output_dir"][1].base))
    if checked.get("llm_config_file") and values.get("llm", (None,))[0] is _INLINE:  # a table reports it itself
        config_at = values["llm_config_file"][1]
        config_path = _local(checked["llm_config_file"], config_at.base or spec_dir)
        if not config_path.is_file():
            problem = "is not a file" if config_path.exists() else "does not exist"
            raise config_at.fail(f"the config file {config_path} {problem}",
                                 f"Fix the path (relative paths are read from {config_at.base or spec_dir}), or remove "
                                 "`llm_config_file` (config.toml is then looked for in the usual places)")
    for key in ("memory.from", "memory.baseline_run"):  # relative paths: from the spec's folder, as dataset.name
        if checked.get(key):
            checked[key] = _run_ref(checked[key], values[key][1])
    if "name" in checked:
        _run_name(checked["name"], values["name"][1])
    else:
        stem = _safe_name(stem)

    def section_values(name: str) -> dict[str, Any]:
        """A section's checked values by the attribute of its dataclass that holds each (memory.from: start_from)."""
        return {_ATTRS.get(k, k).split(".", 1)[1]: v for k, v in checked.items() if k.startswith(name + ".")}

    repos = _repos(*values["repos"]) if "repos" in values else {}
    if "evaluation.recipes" in values:
        checked["evaluation.recipes"] = _recipes(*values["evaluation.recipes"])
    llm = _llm(values, checked, file, spec_dir, env)
    if llm.scripted_latency_s and not llm.scripted:
        raise UserError(f"{where(file, None, 'llm.scripted_latency_s')}: only the scripted demo model has a latency to "
                        f"set, and the model is {llm.model}. Remove `scripted_latency_s`.")
    induction = section_values("induction")
    if induction.get("llm") is not None:
        induction["llm"] = _induction_llm(induction["llm"], values["induction.llm"][1], llm, checked, spec_dir, env)
    agent = section_values("agent")
    if agent.get("workspace") == "remote" and not agent.get("servers"):
        raise values["agent.workspace"][1].fail(
            "`workspace: remote` runs each issue's agent on an OpenHands agent server, and `agent.servers` names none",
            "Add the servers' addresses under `agent:`, e.g. `servers: [http://10.0.0.5:8000]` (start one with "
            "`python -m openhands.agent_server --host 0.0.0.0 --port 8000`)")
    memory = section_values("memory")
    if memory.get("enabled") == "frozen" and not memory.get("start_from"):
        raise values["memory.enabled"][1].fail(
            "`enabled: frozen` gives the agent a memory that never changes, and `memory.from` names none, so the run "
            "would have no memory at all",
            "Add `from:` under `memory:`, naming the run (its folder or name) or the memory.json to freeze, e.g. "
            "`from: runs/train/memory.json` (or use `awm-tui replay RUN`, which sets both)")
    if memory.get("retrieval") == "embedding" and not memory.get("embedding_model"):
        raise values["memory.retrieval"][1].fail(
            "`retrieval: embedding` needs an embedding model, and `memory.embedding_model` is not given",
            "Add e.g. `embedding_model: openai/text-embedding-3-small` under `memory:` (a litellm embedding model "
            "served at the same address and key as `llm`), or use `retrieval: bm25`, which needs none")
    embedding_model = memory.get("embedding_model")
    if (memory.get("retrieval") == "embedding" and embedding_model and "/" not in embedding_model
            and not llm.custom_llm_provider):
        raise values["memory.embedding_model"][1].fail(
            f"`{embedding_model}` names no provider, so litellm may send it somewhere else than `llm`'s server, or "
            "nowhere (the run would fail at its first retrieval)",
            f"Prefix it with its provider, e.g. `embedding_model: openai/{embedding_model}` for OpenAI or an "
            "OpenAI-compatible server (embeddings are asked at the address and with the key of `llm`)")
    return RunSpec(
        llm=llm,
        name=checked.get("name", stem),
        agent=AgentSpec(**agent),
        dataset=DatasetSpec(**section_values("dataset")),
        repos=repos,
        evaluation=EvaluationSpec(**section_values("evaluation")),
        induction=InductionSpec(**induction),
        memory=MemorySpec(**memory),
        budget=BudgetSpec(**section_values("budget")),
        path=file,
        **{k: v for k, v in checked.items() if "." not in k and k != "name" and k not in _SPEC_FILE},
    )


def _llm(values: dict, checked: dict, file: str, spec_dir: Path, env: Mapping[str, str]) -> LLMSpec:
    if "llm" not in values:
        raise UserError(
            f"{where(file, None, 'llm')}: no model is given. Add it inline, e.g. "
            "`llm: {model: openai/gpt-4o, api_key_env: OPENAI_API_KEY}`, or name a table of an OpenHands "
            "config.toml, e.g. `llm: eval_gpt4` for [llm.eval_gpt4] (or pass `--llm-config eval_gpt4`)."
        )
    raw, at = values["llm"]
    if raw is _INLINE:
        settings = {k.split(".", 1)[1]: v for k, v in checked.items() if k.startswith("llm.")}
        if "model" not in settings:
            raise UserError(
                f"{where(file, at.line, 'llm.model')}: the inline `llm` settings have no `model`. Add e.g. "
                "`model: openai/gpt-4o` (a litellm model name), or `model: scripted/NAME` for the scripted model."
            )
        source, key_at = "inline", values.get("llm.api_key_env", (None, at))[1]
    else:
        name = _check(_STR, raw, at).strip().removeprefix("llm.")
        config_file = checked.get("llm_config_file")
        try:
            table, config = load_llm_table(name, Path(config_file) if config_file else None, spec_dir)
        except UserError as exc:
            raise UserError(f"{at}: {exc.message}") from None
        label = "[llm]" if name == "llm" else f"[llm.{name}]"
        source = f"{config.name}:{label} ({config})"
        settings = {
            k: _check(FIELDS["llm." + k], v, _At(f"{config} {label}", None, k, toml=True), "llm." + k)
            for k, v in table.items()
        }
        if "model" not in settings:
            raise UserError(f"{config}, table {label}: has no `model`. Add e.g. `model = \"openai/gpt-4o\"` to it.")
        key_at = _At(f"{config} {label}", None, "api_key_env")
    variable = settings.get("api_key_env")
    if variable and not settings.get("api_key"):
        settings["api_key"] = _env_key(variable, env, key_at, settings["model"])
    return LLMSpec(**settings, source=source)


def _induction_llm(raw: Any, at: _At, agent: LLMSpec, checked: dict, spec_dir: Path,
                   env: Mapping[str, str]) -> LLMSpec:
    """`induction.llm`: the model that induces and judges. A mapping overrides the agent's settings (a different
    model, temperature...; the key variable is the agent's unless `api_key_env` is given); a name is a [llm.NAME]
    table of config.toml, as `llm:` can be."""
    if isinstance(raw, str):
        values = {"llm": (raw, at)}
        return _llm(values, {"llm_config_file": checked.get("llm_config_file")}, at.file, spec_dir, env)
    settings: dict[str, Any] = {}
    for key, value in raw.items():
        sub_at = _At(at.file, _line(raw, key), f"induction.llm.{key}", base=spec_dir)
        if f"llm.{key}" not in FIELDS or key == "api_key":
            _unknown(sub_at, str(key), [k.split(".", 1)[1] for k in FIELDS
                                        if k.startswith("llm.") and k != "llm.api_key"])
        settings[key] = _check(FIELDS[f"llm.{key}"], value, sub_at, f"llm.{key}")
    if settings.get("api_key_env"):
        key_at = _At(at.file, _line(raw, "api_key_env"), "induction.llm.api_key_env", base=spec_dir)
        settings["api_key"] = _env_key(settings["api_key_env"], env, key_at, settings.get("model", agent.model))
    elif "model" in settings and settings["model"] != agent.model and "base_url" in settings:
        settings.setdefault("api_key", None)  # another server: the agent's key is not sent to it
    return replace(agent, **settings, source=f"induction.llm of {at.file}")


def _env_key(variable: str, env: Mapping[str, str], at: _At, model: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
        raise at.fail(
            "must be the NAME of an environment variable, not the key itself (the value is not shown here)",
            "Put the key in a variable, e.g. `export OPENAI_API_KEY=...`, and write `api_key_env: OPENAI_API_KEY`",
        )
    if not env.get(variable):
        raise at.fail(
            f"the environment variable {variable} is not set, so model {model} has no API key",
            f"Set it in the shell that starts the run: `export {variable}=...`, "
            "or remove `api_key_env` if this model needs no key",
        )
    return env[variable]


def _check(spec: _Field, value: Any, at: _At, key: str | None = None) -> Any:
    """The value converted to plain Python, or a UserError saying what is wrong at `at` and how to fix it."""
    try:
        return _convert(spec, value)
    except _Invalid as bad:
        eg = spec.eg if spec.eg is not None else _default(key or at.field, spec)
        secret = at.field.endswith("api_key")
        problem = bad.problem.replace("{got}", "a value of the wrong type" if secret else _kind(value))
        raise at.fail(problem, bad.fix or f"Write e.g. {at.example(eg)}") from None


def _convert(spec: _Field, value: Any) -> Any:
    if value is None:
        if spec.optional:
            return None
        raise _Invalid("has no value", "")
    kind = spec.kind
    if kind in ("str", "choice"):
        if not isinstance(value, str):
            raise _Invalid("must be a string, got {got}", "")
        if not value.strip():
            raise _Invalid("is an empty string", "")
        if kind == "choice" and value not in spec.choices:
            close = [c for c in spec.choices if value in c] or difflib.get_close_matches(value, spec.choices, n=1)
            raise _Invalid(
                f"must be one of {', '.join(spec.choices)}, got {{got}}",
                f"Did you mean `{close[0]}`?" if close else f"Use one of {', '.join(spec.choices)}.",
            )
        return str(value)
    if kind == "llm":  # induction.llm: a [llm.NAME] table's name or a mapping of model settings (checked later)
        if not isinstance(value, (str, dict)):
            raise _Invalid("must be a mapping of model settings or the name of a [llm.NAME] table, got {got}",
                           "Write e.g. `llm: {model: openai/gpt-4o-mini, temperature: 0}`")
        return value
    if kind == "recipes":
        if not isinstance(value, dict):
            raise _Invalid("must be a mapping of repository to versions to recipes, got {got}",
                           f"Write e.g. `{_RECIPE_EXAMPLE}`")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise _Invalid("must be true or false, got {got}", "")
        return bool(value)
    if kind in ("int", "float"):
        number = isinstance(value, int) or (kind == "float" and isinstance(value, float))
        if isinstance(value, bool) or not number:
            raise _Invalid(f"must be {'a whole number' if kind == 'int' else 'a number'}, got {{got}}", "")
        value = int(value) if kind == "int" else float(value)
        if not _in_range(spec, value):
            raise _Invalid(f"must be {_range(spec)}, got {value}", "")
        return value
    if kind == "strs" and isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _Invalid("must be a list of strings, got {got}", "")
    return [str(v) for v in value]


def _in_range(spec: _Field, value: float) -> bool:
    low_ok = spec.lo is None or (value > spec.lo if spec.above else value >= spec.lo)
    return low_ok and (spec.hi is None or value <= spec.hi)


def _range(spec: _Field) -> str:
    if spec.hi is not None:
        return f"between {spec.lo} and {spec.hi}"
    return f"greater than {spec.lo}" if spec.above else f"at least {spec.lo}"


def _default(field: str, spec: _Field) -> Any:
    node: Any = _DEFAULTS
    for part in field.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is not None and node != "":
        return node
    return {"int": max(int(spec.lo or 0), 1), "float": 1.0, "bool": True, "choice": (spec.choices or ("",))[0]}.get(
        spec.kind, "..."
    )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"{_yaml(value)} (true/false)"
    if isinstance(value, str):
        return f'"{value}" (a string)'
    if isinstance(value, int | float):
        return f"{value} (a number)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "an empty value" if value is None else type(value).__name__


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return str(value)


def _local(path: str, base: Path | None) -> Path:
    return ((base or Path.cwd()) / Path(path).expanduser()).resolve()


def _run_ref(value: str, at: _At) -> str:
    """`memory.from` / `memory.baseline_run`: a run's name (looked up under the runs folder when the run starts) or
    a path (a run's folder, or a memory.json), made absolute against the spec's folder like `dataset.name`. A bare
    name is a path only if the spec's folder holds it (run names have no `/`)."""
    looks_like_path = value.startswith(("./", "../", "/", "~")) or "/" in value or value.endswith(".json")
    path = _local(value, at.base)
    try:
        there = path.exists()
    except OSError:  # a name too long for the file system: the run lookup says it names nothing
        there = False
    return str(path) if looks_like_path or there else value


NAME_MAX = 100  # the run folder is <name>-<time>[-n]: well under the file systems' 255 bytes
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def _run_name(name: str, at: _At) -> None:
    """A run's name becomes its folder's name under the runs folder: no `/`, no `..`, nothing hidden."""
    if len(name) > NAME_MAX:
        raise at.fail(f"is {len(name)} characters long, more than {NAME_MAX}", "Use a shorter name")
    if not _NAME.fullmatch(name):
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "_.-"))})
        problem = (f"holds {', '.join(repr(c) for c in bad)}" if bad else "starts with `.`")
        raise at.fail(
            f"{problem}, but the name becomes the run's folder name under the runs folder",
            f"Use only letters, digits, `-`, `_` and `.`, not starting with `.`, e.g. `name: {_safe_name(name)}`",
        )


def _safe_name(name: str) -> str:
    """A run name made from a spec file's name: characters a folder name should not have become `-`."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).lstrip(".-")[:NAME_MAX]
    return safe or "run"


def _dataset_name(name: str, at: _At) -> str:
    looks_like_path = name.startswith(("./", "../", "/", "~")) or ("/" in name and name.endswith(_DATA_SUFFIXES))
    if name == BUILTIN_DATASET or not (looks_like_path or name.endswith(_DATA_SUFFIXES)):
        return name
    path = _local(name, at.base)
    if path.is_file() and os.access(path, os.R_OK):
        return str(path)
    if not looks_like_path:
        return name
    problem = "is not a readable file" if path.exists() else "does not exist"
    raise at.fail(
        f"the dataset file {path} {problem}",
        f"Fix the path (relative paths are read from {at.base}), or use a Hugging Face dataset name such as "
        f"`princeton-nlp/SWE-bench` or `princeton-nlp/SWE-bench_Lite`, or `{BUILTIN_DATASET}` for the bundled sample",
    )


def _repos(raw: Any, at: _At) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise at.fail(
            f"must be a mapping of repository to git URL or local path, got {_kind(raw)}",
            "Write e.g. `repos: {django/django: https://github.com/django/django.git}`",
        )
    repos = {}
    for repo, source in raw.items():
        repo_at = _At(at.file, _line(raw, repo), f"repos.{repo}", base=at.base)
        if not isinstance(source, str) or not source.strip():
            raise repo_at.fail(
                f"must be a git URL or a local path, got {_kind(source)}",
                f"Write e.g. `{repo}: https://github.com/{repo}.git` or `{repo}: ../checkouts/{repo}`",
            )
        remote = source == BUILTIN_DATASET or "://" in source or re.match(r"[\w.-]+@[\w.-]+:", source)
        repos[str(repo)] = source if remote else str(_local(source, at.base))
    return repos


def _recipes(raw: Any, at: _At) -> dict[str, dict[str, dict[str, Any]]]:
    """`evaluation.recipes` as plain data: repository -> version (a quoted string, or "*") -> recipe fields."""
    recipes: dict[str, dict[str, dict[str, Any]]] = {}
    for repo, versions in (raw or {}).items():
        repo_at = _At(at.file, _line(raw, repo), f"{at.field}.{repo}", base=at.base)
        if not isinstance(versions, dict):
            raise repo_at.fail(f"must be a mapping of version to recipe, got {_kind(versions)}",
                               f"Write e.g. `{repo}: {{\"1.2\": {{python: \"3.11\", test_cmd: pytest -rA}}}}`")
        recipes[str(repo)] = {}
        for version, recipe in versions.items():
            version_at = _At(at.file, _line(versions, version), f"{repo_at.field}.{version}", base=at.base)
            if not isinstance(version, str):
                raise version_at.fail(f"the version {version} is read as a number (YAML reads 3.10 as 3.1)",
                                      f'Quote it: `"{version}":`, or use `"*"` for every version')
            if not isinstance(recipe, dict):
                raise version_at.fail(f"must be a mapping of recipe settings, got {_kind(recipe)}",
                                      'Write e.g. `{python: "3.11", test_cmd: pytest -rA}`')
            fields = {}
            for key, value in recipe.items():
                key_at = _At(at.file, _line(recipe, key), f"{version_at.field}.{key}", base=at.base)
                if key not in RECIPE_FIELDS:
                    _unknown(key_at, str(key), list(RECIPE_FIELDS))
                fields[key] = _check(RECIPE_FIELDS[key], value, key_at)
                if key == "python" and not re.fullmatch(r"\d+\.\d+", fields[key]):
                    raise key_at.fail(f"must be a Python version X.Y, got {fields[key]}", 'Write e.g. `python: "3.11"`')
            recipes[str(repo)][version] = fields
    return recipes


# ---------------------------------------------------------------- the README's field table

def _type_text(check: _Field) -> str:
    """A field's type and range in words, for the field table."""
    if check.kind == "choice":
        text = " \\| ".join(f"`{c}`" for c in check.choices)
    else:
        text = {"int": "whole number", "float": "number", "bool": "true/false", "str": "string",
                "list": "list of strings", "strs": "string or list of strings",
                "recipes": "mapping: repository, version, recipe",
                "llm": "mapping or [llm.NAME] name", "repos": "mapping of repository to source"}[check.kind]
    if check.kind in ("int", "float") and check.lo is not None:
        text += (f" in {'(' if check.above else '['}{check.lo}, {check.hi}]" if check.hi is not None
                 else f" {'>' if check.above else '≥'} {check.lo}")
    return text + (" or null" if check.optional else "")


def _default_text(entry: Entry) -> str:
    if entry.section:
        return "–"
    node: Any = _DEFAULTS
    for part in _ATTRS.get(entry.key, entry.key).split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if entry.key in ("llm.model",):
        return "(required)"
    if entry.key in _SPEC_FILE:
        return "`null`"
    return f"`{json.dumps(node) if isinstance(node, (list, dict)) or node is None else _yaml(node)}`"


def field_table() -> str:
    """Every spec field as a Markdown table (type, default, flag, what it does): the README's, which a test holds
    equal to this."""
    rows = ["| field | type | default | flag | what it does |", "| --- | --- | --- | --- | --- |"]
    for e in ENTRIES:
        flag = e.setting.flag
        shown = "" if flag is None else f"`{flag.name}{' ' + flag.metavar if flag.metavar else ''}`"
        kind = "mapping, or a [llm.NAME] name" if e.section else _type_text(e.check)
        rows.append(f"| `{e.key}` | {kind} | {_default_text(e)} | {shown.replace('|', chr(92) + '|')} | "
                    f"{e.setting.doc.replace('|', chr(92) + '|')} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m awm.spec --table: the README's field table
    if sys.argv[1:] != ["--table"]:
        sys.exit("usage: python -m awm.spec --table")
    sys.stdout.write(field_table())
