"""The wheel's build hook: the shipped run specs travel inside the package (specs/ as awm/specs/), so an installed
awm-tui finds its defaults (awm.spec.packaged_spec). Only in a real wheel: an editable install reads specs/ in the
checkout, and copying them would leave an `awm` folder (a namespace package holding only specs) in site-packages,
importable where the checkout is hidden (the agent's sandbox), and stale as the specs change."""

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class SpecsInPackage(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if version == "standard":
            build_data["force_include"]["specs"] = "awm/specs"
