"""A run's workflow memory as the app shows it: the words for an entry's usage, a round's changes and an entry's
kind, and the memory browser's operations with the message each one shows. What is shown (every version of every
entry, the rounds, the flags, the usage counts) is read by the engine's view of the run's memory
(awm.run.memory_view.MemoryView)."""

from __future__ import annotations

from pathlib import Path

from awm.errors import UserError
from awm.fmt import count
from awm.records import PITFALL, Workflow
from awm.run.memory_view import EntryUsage, MemoryView, RoundChanges

PAST = {"disable": "disabled", "enable": "enabled", "pin": "pinned", "unpin": "unpinned"}


def rate_text(usage: EntryUsage) -> str:
    rate = usage.pass_rate
    return "–" if rate is None else f"{rate:.0%}"


def usage_summary(usage: EntryUsage, baseline: bool) -> str:
    """One line for a person: what the entry was given to and how those issues went."""
    if not usage.uses:
        text = "not given to any issue yet"
    else:
        text = (f"given to {count(usage.uses, 'issue')}: {usage.passed} passed, {usage.failed} failed, "
                f"{usage.errored} errors; pass rate when given {rate_text(usage)}")
    if baseline:
        text += f"; against the baseline run: helped {usage.helped}, hurt {usage.hurt}"
    else:
        text += "; helped/hurt: – (no baseline run linked: memory.baseline_run)"
    return text


def changes_text(changes: RoundChanges) -> str:
    """One line for a person: what the round added, updated and evicted."""
    def names(entries: list[Workflow], versions: bool = False) -> str:
        return ", ".join(f"{w.name} v{w.version}" if versions else w.name for w in entries)

    parts = []
    if changes.added:
        parts.append(f"+{len(changes.added)} added ({names(changes.added)})")
    if changes.merged:
        parts.append(f"{len(changes.merged)} updated ({names(changes.merged, True)})")
    if changes.evicted:
        parts.append(f"−{len(changes.evicted)} evicted ({names(changes.evicted)})")
    what = "seeded" if changes.kind == "seed" else f"{changes.kind} round"
    return f"round {changes.round} ({what}): " + ("; ".join(parts) or "no change")


class RunMemory(MemoryView):
    """The engine's view of a run's memory, with the memory browser's operations as the app offers them."""

    def edit(self, entry_id: str, action: str) -> tuple[str, str]:
        """What `awm-tui memory RUN disable|enable|pin|unpin ID` does, from the app: the operation is logged in the
        run folder (memory_ops.jsonl) and the engine applies it before the run's next issue. Returns the message
        to show and its severity ("information", "warning" or "error"); nothing is logged when it would do
        nothing or cannot be done."""
        name = self.name(entry_id)
        if not self.known_folder:
            return (f"Cannot {action} {name}: this run's folder is not known here, and memory operations are "
                    "logged in it (awm-tui memory RUN ...).", "warning")
        if self.state(entry_id) == "evicted":
            return f"{name} is no longer in memory (evicted): nothing to {action}.", "warning"
        disabled, pinned = self.flags.get(entry_id, (False, False))
        if {"disable": disabled, "enable": not disabled, "pin": pinned, "unpin": not pinned}[action]:
            return f"{name} is already {PAST[action]}.", "information"
        try:
            self.log(entry_id, action, note="from the awm-tui memory browser")
        except OSError as exc:
            return f"Could not {action} {name}: {exc.strerror or exc}.", "error"
        except UserError as exc:  # a frozen memory (a replay) takes no edits
            return exc.message, "warning"
        return (f"{PAST[action].capitalize()} {name} ({entry_id}): the run honours it from its next issue.",
                "information")

    def relative(self, path: Path) -> str:
        """A path inside the run folder, as shown: relative to the folder."""
        try:
            return str(path.relative_to(self.run_dir)) if self.run_dir else str(path)
        except ValueError:
            return str(path)


def kind_label(kind: str) -> str:
    """A memory entry's kind, short: pf (pitfall) or wf (workflow)."""
    return "pf" if kind == PITFALL else "wf"
