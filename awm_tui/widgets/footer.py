"""The footer: Textual's, redrawn only when what it shows changes.

Textual's Footer rebuilds all its keys (a dozen widgets, each styled anew) whenever the screen's bindings are
refreshed: on every focus change and every `refresh_bindings`. On the run screen the keys shown are mostly the
same before and after (the screen's keys, enabled or not by `check_action`), so that rebuild is the largest part
of switching between the queue and the log. This footer rebuilds only when the keys it would show differ."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


def footer_keys(screen: Screen) -> tuple:
    """What the footer shows for `screen` now: each shown binding's key, action, description, whether it is
    enabled, its tooltip and group (Footer.compose's inputs)."""
    return tuple(
        (binding.key, binding.key_display, binding.action, binding.description, enabled, tooltip,
         id(binding.group) if binding.group is not None else None)
        for (_, binding, enabled, tooltip) in screen.active_bindings.values()
        if binding.show or binding.key == screen.app.COMMAND_PALETTE_BINDING
    )


class KeyFooter(Footer):
    """A Footer that skips its rebuild when its keys are the ones it already shows."""

    _shown: tuple | None = None

    def bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            keys = footer_keys(screen)
            if keys == self._shown and self._bindings_ready:
                return
            self._shown = keys
        super().bindings_changed(screen)

