"""The workflow memory: its store, retrieval, induction, merging and adherence.

The retrievals' names live here, in the package's light front module, so that the spec (awm.spec) takes
`memory.retrieval`'s choices from them without importing the retrievers (awm-tui --help stays quick)."""

from typing import Literal, get_args

# `memory.retrieval`: bm25, embedding, or all (every entry, no budget); made by awm.memory.retrieval.make_retriever
Retrieval = Literal["bm25", "embedding", "all"]
RETRIEVALS: tuple[str, ...] = get_args(Retrieval)
