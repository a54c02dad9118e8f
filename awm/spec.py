"""The run spec: what a run does, read from YAML and validated with file/line/field in every error."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from awm.errors import UserError


@dataclass
class LLMSpec:
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    api_key: str | None = field(default=None, repr=False)  # resolved secret; never written anywhere
    api_version: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    num_retries: int = 3
    timeout: int | None = None
    reasoning_effort: str | None = None
    custom_llm_provider: str | None = None
    source: str = "inline"  # "inline" or "config.toml:[llm.NAME]" for messages and config.json

    @property
    def scripted(self) -> bool:
        return self.model.startswith("scripted/")

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["api_key"] = "<redacted>" if self.api_key else None
        return data


@dataclass
class AgentSpec:
    kind: str = "CodeActAgent"
    max_iterations: int = 100
    timeout_minutes: float = 30.0
    include_hints: bool = False
    workspace: str = "local"


@dataclass
class DatasetSpec:
    name: str = "princeton-nlp/SWE-bench"
    split: str = "test"
    repo_filter: list[str] = field(default_factory=lambda: ["django/django"])
    instance_ids: list[str] = field(default_factory=list)
    limit: int | None = None


@dataclass
class EvaluationSpec:
    backend: str = "local"  # local | swebench-docker | none
    timeout_minutes: float = 30.0


@dataclass
class InductionSpec:
    trigger: int = 10
    max_workflows: int = 50


@dataclass
class RunSpec:
    llm: LLMSpec
    name: str = "run"
    agent: AgentSpec = field(default_factory=AgentSpec)
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    repos: dict[str, str] = field(default_factory=dict)
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    induction: InductionSpec = field(default_factory=InductionSpec)
    output_dir: str | None = None
    checkpoint_interval: int = 5
    max_consecutive_errors: int = 3
    verbose: bool = True
    path: str | None = None  # the spec file this came from, for messages

    def public(self) -> dict[str, Any]:
        """Everything about the run except secrets: what config.json holds."""
        data = asdict(self)
        data["llm"] = self.llm.public()
        return data

    def fingerprint(self) -> dict[str, Any]:
        """The fields that decide what a run means; resuming with any of them changed is refused."""
        return {
            "model": self.llm.model,
            "dataset": self.dataset.name,
            "split": self.dataset.split,
            "repo_filter": sorted(self.dataset.repo_filter),
            "instance_ids": list(self.dataset.instance_ids),
            "evaluation": self.evaluation.backend,
            "induction_trigger": self.induction.trigger,
        }

    def fingerprint_digest(self) -> str:
        return hashlib.sha256(json.dumps(self.fingerprint(), sort_keys=True).encode()).hexdigest()[:16]
