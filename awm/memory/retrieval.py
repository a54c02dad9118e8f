"""Retrieval: which workflows and pitfalls go into the agent's prompt for one issue, under a token budget.

Rankers (`memory.retrieval`):
- bm25 (default): BM25 (the bm25s library, Lucene variant, k1 1.5, b 0.75) over each entry's name, "When to use"
  line (these two count twice: they say what the entry is for) and steps; words are split at case changes and at
  anything not a letter or digit (so `{module-path}` and `from_roman` give their words), lower-cased, with English
  stopwords (bm25s' longer English list), a few words of Python syntax and bare numbers left out; no stemming. The
  score is normalised: BM25(issue, entry) / BM25(entry, entry), where the second is the entry's own
  text as the query (both with each distinct word counted once). So a score is the share of the entry's BM25 weight
  that the issue's words cover: 0 when they share no word, 1 when the issue holds every word of the entry. It stays
  in [0, 1] whatever the memory's size (raw BM25 grows with it, through the idf), so one `min_score` keeps its
  meaning from the first workflow to the hundredth. On texts like the demo's, an issue's own category scores
  0.05-0.16 and other categories mostly under 0.05 (median 0.015), hence a default of 0.05.
- embedding: cosine similarity of litellm embeddings (`memory.embedding_model`) of the issue and of each entry's text.
  A call that fails, or vectors that are not finite (NaN, infinite), not all of one size, or of another size than
  the ones before, raise EmbeddingFault: the engine records it, asks again and stops the run after a few in a row
  (never an issue silently run without its memory).
- all: every entry, score 1.0, in memory order (no budget, no top-k, no minimum: the behaviour before retrieval).

`retrieve()` then picks, for one issue: never a disabled entry, never one whose sources include the issue itself;
pinned entries first, then the others by score, those under `min_score` dropped; at most `top_k`; added one at a
time while the rendered block stays within `budget_tokens` (an entry that does not fit is skipped for the next).
What it leaves out is kept too (Selection.passed_over, the best few with their score and why) and, when nothing is
injected, why (Selection.reason): the issue's record says it (Experience.passed_over, Experience.why_none)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from awm.memory import RETRIEVALS
from awm.model.client import EmbeddingFault, check_vectors, describe_fault
from awm.records import PITFALL, Workflow

if TYPE_CHECKING:
    from awm.memory.store import WorkflowMemory

Count = Callable[[str], int]
Embed = Callable[[list[str]], list[list[float]]]


def entry_text(entry: Workflow, label_weight: int = 1) -> str:
    """What a ranker reads of an entry: name and "When to use" (`label_weight` times), then the steps."""
    label = f"{entry.name}\n{entry.description}\n"
    return label * label_weight + "\n".join(entry.steps)


def _key(entries: list[Workflow]) -> tuple:
    return tuple((w.id, w.version, w.round) for w in entries)


class Retriever(Protocol):
    def rank(self, query: str, entries: list[Workflow]) -> list[tuple[Workflow, float]]:
        """Every entry with its score, best first (ties in the order given)."""
        ...


# ---- BM25

# Words of Python syntax that issues and workflows share whatever they are about (`from` is an English stopword).
CODE_WORDS = frozenset({"python", "import", "print", "def", "self", "return", "none", "true", "false", "py"})
# A word: capitals not followed by a small letter (LRU in LRUCache), a capital and small letters (Cache), or digits.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


class BM25Retriever:
    """BM25 ranking with scores normalised to [0, 1] (see the module docstring). The index is rebuilt only when the
    entries change (their ids, versions and rounds). `stem`: a stemmer over a list of words (e.g. PyStemmer's
    `Stemmer.Stemmer("english").stemWords`); none by default."""

    label_weight = 2

    def __init__(self, stem: Callable[[list[str]], list[str]] | None = None):
        from bm25s.stopwords import STOPWORDS_EN_PLUS

        self.stopwords = frozenset(STOPWORDS_EN_PLUS) | CODE_WORDS
        self.stem = stem
        self._cache: tuple[tuple, Any, list[float]] | None = None

    def tokens(self, text: str) -> list[str]:
        stop = self.stopwords
        words = [w for w in map(str.lower, _WORD.findall(text)) if len(w) > 1 and w not in stop and not w.isdigit()]
        return self.stem(words) if self.stem and words else words

    def _index(self, entries: list[Workflow]) -> tuple[Any, list[float]]:
        key = _key(entries)
        if self._cache is None or self._cache[0] != key:
            import bm25s

            docs = [self.tokens(entry_text(w, self.label_weight)) or ["\x00"] for w in entries]
            index = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
            index.index(docs, show_progress=False)
            own = [self._raw(index, doc)[i] for i, doc in enumerate(docs)]
            self._cache = (key, index, own)
        return self._cache[1], self._cache[2]

    @staticmethod
    def _raw(index: Any, words: list[str]) -> list[float]:
        known = [w for w in dict.fromkeys(words) if w in index.vocab_dict]
        if not known:
            return [0.0] * index.scores["num_docs"]
        return [float(s) for s in index.get_scores(known)]

    def raw_scores(self, query: str, entries: list[Workflow]) -> list[float]:
        """The library's BM25 scores of `query` against each entry (each distinct query word once)."""
        if not entries:
            return []
        index, _ = self._index(entries)
        return self._raw(index, self.tokens(query))

    def rank(self, query: str, entries: list[Workflow]) -> list[tuple[Workflow, float]]:
        if not entries:
            return []
        raw = self.raw_scores(query, entries)
        _, own = self._index(entries)
        scored = [(w, min(1.0, r / o) if o > 0 else 0.0) for w, r, o in zip(entries, raw, own)]
        return _best_first(scored)


def _best_first(scored: list[tuple[Workflow, float]]) -> list[tuple[Workflow, float]]:
    order = sorted(range(len(scored)), key=lambda i: (-scored[i][1], i))
    return [scored[i] for i in order]


# ---- embeddings


class Vectors(list):
    """An embedding call's vectors, with what the call cost: `prompt_tokens` (the provider's usage) and `cost` (in
    dollars; 0 when the provider's price is unknown, as the scripted model's is). What litellm_embedder returns; an
    `embed` function that knows no usage returns a plain list, counted as a call of no tokens and no cost."""

    prompt_tokens: int = 0
    cost: float = 0.0


def embedding_usage(response: Any, texts: list[str]) -> tuple[int, float]:
    """(prompt tokens, cost) of a litellm embedding response: its usage, and the cost litellm priced the call at
    (its `response_cost`, else its price table; 0 for a model it has no price for)."""
    usage = _get(response, "usage")
    tokens = int(_get(usage, "prompt_tokens", 0) or _get(usage, "total_tokens", 0) or 0) if usage is not None else 0
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
    if cost is None:
        try:
            from awm.model.client import import_litellm

            cost = import_litellm().completion_cost(completion_response=response, call_type="embedding")
        except Exception:  # noqa: BLE001 - an unknown model has no price: its tokens still count
            cost = 0.0
    return tokens, float(cost or 0.0)


def litellm_embedder(model: str, **kwargs: Any) -> Embed:
    """An `embed` function over litellm's embedding API (kwargs: api_key, api_base, ... as litellm takes them); its
    answers are Vectors, carrying the call's tokens and cost."""

    def embed(texts: list[str]) -> list[list[float]]:
        from awm.model.client import import_litellm

        response = import_litellm().embedding(model=model, input=texts, **kwargs)
        data = sorted(response.data, key=lambda d: _get(d, "index", 0))
        vectors = Vectors(list(_get(d, "embedding")) for d in data)
        vectors.prompt_tokens, vectors.cost = embedding_usage(response, texts)
        return vectors

    return embed


def _get(item: Any, name: str, default: Any = None) -> Any:
    return item.get(name, default) if isinstance(item, dict) else getattr(item, name, default)


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class EmbeddingRetriever:
    """Cosine similarity between the issue's embedding and each entry's; entry vectors are cached by (id, version,
    round), so each version of an entry is embedded once, in the same call as the query. Every answer is checked
    (check_vectors; `dims` is the size of the first good answer, or of the start-up probe): a fault raises
    EmbeddingFault and caches nothing. `usage` sums the calls answered (faulty vectors too: they were paid for):
    calls, prompt_tokens and cost, as Vectors report them; the engine keeps each issue's share
    (Experience.embedding)."""

    def __init__(self, model: str, embed: Embed):
        self.model = model
        self.embed = embed
        self.dims: int | None = None
        self._vectors: dict[tuple, list[float]] = {}
        self.usage: dict[str, float] = {"calls": 0, "prompt_tokens": 0, "cost": 0.0}

    def rank(self, query: str, entries: list[Workflow]) -> list[tuple[Workflow, float]]:
        if not entries:
            return []
        keys = [(w.id, w.version, w.round) for w in entries]
        missing = [(k, w) for k, w in zip(keys, entries) if k not in self._vectors]
        missing = list({k: (k, w) for k, w in missing}.values())
        try:
            raw = self.embed([entry_text(w) for _, w in missing] + [query])
        except EmbeddingFault:
            raise
        except Exception as exc:  # noqa: BLE001 - the call failed (after the client's retries): a named fault
            raise EmbeddingFault(f"the embedding model {self.model} failed: {describe_fault(exc)}") from exc
        self.usage["calls"] += 1
        self.usage["prompt_tokens"] += int(getattr(raw, "prompt_tokens", 0) or 0)
        self.usage["cost"] += float(getattr(raw, "cost", 0.0) or 0.0)
        vectors = check_vectors(raw, len(missing) + 1, self.dims, self.model)
        self.dims = len(vectors[0])
        for (k, _), vector in zip(missing, vectors):
            self._vectors[k] = list(vector)
        query_vector = vectors[-1]
        return _best_first([(w, cosine(query_vector, self._vectors[k])) for k, w in zip(keys, entries)])


class AllRetriever:
    """Every entry, score 1.0, in memory order."""

    def rank(self, query: str, entries: list[Workflow]) -> list[tuple[Workflow, float]]:
        return [(w, 1.0) for w in entries]


def make_retriever(kind: str, embedding_model: str | None = None, embed: Embed | None = None) -> Retriever:
    """The ranker `memory.retrieval` names; `embed` replaces litellm's embedding API (tests, other providers)."""
    if kind == "bm25":
        return BM25Retriever()
    if kind == "embedding":
        if not embedding_model and embed is None:
            raise ValueError("memory.retrieval: embedding needs memory.embedding_model")
        return EmbeddingRetriever(embedding_model or "", embed or litellm_embedder(embedding_model or ""))
    if kind == "all":
        return AllRetriever()
    raise ValueError(f"unknown memory.retrieval {kind!r} (expected one of {', '.join(RETRIEVALS)})")


# ---- choosing what goes into one issue's prompt


@dataclass
class Selection:
    entries: list[Workflow]  # in prompt order (workflows, then pitfalls)
    scores: dict[str, float]  # id -> score, for the injected entries
    tokens: int  # tokens of `block`
    block: str  # the memory block of the system prompt ("" when nothing is injected)
    excluded: list[str] = field(default_factory=list)  # ids left out because their sources include this issue
    reason: str = ""  # why nothing was injected ("" when something was)
    # the best entries left out, best first: {"id", "kind", "version", "round", "score", "why"}
    passed_over: list[dict] = field(default_factory=list)
    embedding: dict = field(default_factory=dict)  # the embedding calls made for it: calls, prompt_tokens, cost

    def records(self) -> list[dict]:
        """What Experience.retrieved keeps: {"id", "kind", "version", "round", "score"} in prompt order."""
        return [{"id": w.id, "kind": w.kind, "version": w.version, "round": w.round,
                 "score": round(self.scores.get(w.id, 0.0), 4)} for w in self.entries]

    @property
    def ids(self) -> list[str]:
        return [w.id for w in self.entries]


def retrieve(memory: WorkflowMemory, query: str, instance_id: str, retriever: Retriever, *, budget_tokens: int,
             min_score: float, top_k: int, count: Count, budget: bool = True,
             withheld: Iterable[str] = (), replace: dict[str, Workflow] | None = None) -> Selection:
    """The entries to inject for one issue (see the module docstring). `query` is what the entries are ranked
    against (the issue's repository and problem statement); `count` counts tokens with the agent model's tokenizer.
    budget=False (retrieval `all`): every eligible entry, with no budget, top-k or minimum score. `withheld`: ids
    left out as if not in memory (memory.withhold: an ablation), of the ranking too. `replace`: id -> another version
    of that entry to rank and give instead (frozen memory: the version from before it learned from this issue)."""
    withheld, replace = set(withheld), replace or {}
    active = [replace.get(w.id, w) for w in memory.active() if w.id not in withheld]
    excluded = [w.id for w in active if instance_id in w.source_instances]
    ranked = [(w, s) for w, s in retriever.rank(query, active) if w.id not in excluded]
    pinned = [(w, s) for w, s in ranked if w.pinned]
    others = [(w, s) for w, s in ranked if not w.pinned]
    why: dict[str, str] = {}  # id -> why it was left out
    if not budget:
        chosen = pinned + others
    else:
        chosen = []
        for entry, score in pinned + others:
            if not entry.pinned and score < min_score:
                why[entry.id] = f"below memory.threshold {min_score:g}"
            elif len(chosen) >= top_k:
                why[entry.id] = f"past memory.top_k {top_k}"
            elif count(memory.render([w for w, _ in chosen] + [entry])) <= budget_tokens:
                chosen.append((entry, score))
            else:
                why[entry.id] = f"over the token budget (memory.budget_tokens {budget_tokens})"
    entries = [w for w, _ in chosen]
    entries = [w for w in entries if w.kind != PITFALL] + [w for w in entries if w.kind == PITFALL]
    block = memory.render(entries) if entries else ""
    passed_over = [{"id": w.id, "kind": w.kind, "version": w.version, "round": w.round, "score": round(s, 4),
                    "why": why[w.id]} for w, s in ranked if w.id in why][:PASSED_OVER]
    reason = "" if entries else _why_none(memory, active, ranked, why, min_score, top_k, budget_tokens)
    return Selection(entries=entries, scores={w.id: s for w, s in chosen}, tokens=count(block) if block else 0,
                     block=block, excluded=excluded, reason=reason, passed_over=passed_over)


PASSED_OVER = 5  # the best entries left out that an issue's record keeps


def _why_none(memory: WorkflowMemory, active: list[Workflow], ranked: list[tuple[Workflow, float]],
              why: dict[str, str], min_score: float, top_k: int, budget_tokens: int) -> str:
    """Why an issue was given no entry at all."""
    if not memory.workflows:
        return "memory held no entries yet"
    if not active:
        return f"every entry in memory ({len(memory.workflows)}) is disabled"
    if not ranked:
        return "every usable entry was learned from this issue itself"
    if top_k <= 0:
        return "memory.top_k is 0"
    best = max(s for _, s in ranked)
    if all(w.startswith("below") for w in why.values()):
        return f"every entry scored below memory.threshold {min_score:g} (the best: {best:.2f})"
    below = sum(w.startswith("below") for w in why.values())
    return (f"none fits the token budget (memory.budget_tokens {budget_tokens})"
            + (f"; {below} more scored below memory.threshold {min_score:g}" if below else ""))
