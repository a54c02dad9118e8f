"""SWE-bench's test specs, and which images are built here: the glue between the swebench package and the images.

`build_test_spec` is swebench 4.1.0's `make_test_spec`, with the demo's repository registered in its tables (as
swebench's own entries are written: awm.demo.harness_specs) and a GitHub fetch it needs only to build images it
pulls retried without it. The demo's repository has its images built here (awm.images.build); every other
repository's are pulled as SWE-bench publishes them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

from awm.errors import brief

log = logging.getLogger("awm.images.specs")

# Module constants of swebench are patched process-wide; one evaluation (or test spec) at a time holds them.
PATCH_LOCK = threading.RLock()
_REGISTERED = threading.Lock()


def builds_here(repo: str) -> bool:
    """Whether the repository's images are built on this machine (the demo's) rather than pulled."""
    from awm import demo

    return repo == demo.REPO


def register_repo_specs() -> None:
    """The demo repository in swebench's tables (specs, file extension, log parser), as its own entries are."""
    from swebench.harness.constants import MAP_REPO_TO_EXT, MAP_REPO_VERSION_TO_SPECS
    from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
    from swebench.harness.log_parsers.python import parse_log_pytest

    from awm import demo

    with _REGISTERED:
        if demo.REPO in MAP_REPO_VERSION_TO_SPECS:
            return
        MAP_REPO_TO_EXT[demo.REPO] = "py"
        MAP_REPO_TO_PARSER[demo.REPO] = parse_log_pytest
        MAP_REPO_VERSION_TO_SPECS.update(demo.harness_specs())


def unknown_to_harness(pairs) -> dict[str, list[str]]:
    """Of the (repo, version) pairs, those the official harness has no test spec for (swebench's
    MAP_REPO_VERSION_TO_SPECS, with the demo's repository registered): repo -> its unknown versions (empty list:
    the repository itself is unknown)."""
    from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS

    register_repo_specs()
    unknown: dict[str, list[str]] = {}
    for repo, version in sorted(set(pairs)):
        known = MAP_REPO_VERSION_TO_SPECS.get(repo)
        if known is None:
            unknown[repo] = []
        elif str(version) not in known:
            unknown.setdefault(repo, []).append(str(version))
    return unknown


def instance_image(test_spec, cache, client, say: Callable[[str], None] | None = None) -> str:
    """The instance image of a repository built here, built (with what it derives from) unless current."""
    from awm.images.build import Builder, base_commit_of

    if cache is None:
        raise RuntimeError("no repository cache to build the instance image from")
    builder = Builder(client, say=say or (lambda text: log.debug(text)))
    return builder.instance(test_spec, cache.mirror(test_spec.repo, base_commit_of(test_spec)))


def build_test_spec(row: dict[str, Any], namespace: str | None):
    """`make_test_spec`, which for requirements-based repositories (Django among them) fetches the requirements
    from raw.githubusercontent.com. They only feed the environment-image build script; a pulled image
    (namespace set) never runs it, so a failed fetch is retried without them."""
    from swebench.harness.test_spec import python as py_spec
    from swebench.harness.test_spec.test_spec import make_test_spec

    register_repo_specs()
    try:
        return make_test_spec(row, namespace=namespace)
    except Exception as exc:
        if namespace is None or not _is_fetch_error(exc):
            raise
        log.warning("requirements fetch failed (%s); building the test spec without them", brief(exc))
    with PATCH_LOCK, mock.patch.multiple(py_spec, get_requirements=lambda instance: "",
                                          get_environment_yml=lambda instance, env_name: ""):
        return make_test_spec(row, namespace=namespace)


def _is_fetch_error(exc: Exception) -> bool:
    import requests

    return isinstance(exc, requests.RequestException) or str(exc).startswith("Could not find")
