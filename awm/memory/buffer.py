"""An experience buffer: the experiences induction learns from (successes; or failures, for pitfalls), and when the
next induction round is due.

buffer.json lists the successes by instance id (the experiences themselves are in the journal, from which a
resumed run rebuilds the buffer): it is rewritten after every success, so it stays small. It is never read back:
the journal is the source of truth, and a resumed run writes the buffer anew from it; `problem` says what is wrong
with a damaged one, for the line that says it was rebuilt."""

from __future__ import annotations

from pathlib import Path

from awm import atomic
from awm.records import Experience, Status


class ExperienceBuffer:
    def __init__(self, trigger: int, path: Path | None = None):
        self.trigger = trigger
        self.path = path
        self.experiences: list[Experience] = []

    def add(self, experience: Experience, keep: bool | None = None) -> bool:
        """Keep an experience that is `keep` (default: it passed the tests); True when it makes an induction round
        due. The engine decides membership (induction.success: tests, judge or both; failures for pitfalls)."""
        if not (experience.status == Status.PASS if keep is None else keep):
            return False
        self.experiences.append(experience)
        self.save()
        return len(self.experiences) % self.trigger == 0

    @property
    def successes(self) -> int:
        return len(self.experiences)

    def rounds_due(self) -> int:
        """How many induction rounds the successes so far call for."""
        return self.successes // self.trigger

    def batch(self, round_number: int) -> list[Experience]:
        """The successes that round `round_number` (1-based) learns from: the `trigger` that made it due."""
        return self.experiences[(round_number - 1) * self.trigger : round_number * self.trigger]

    def save(self) -> None:
        if self.path is not None:
            atomic.write_json(self.path, {
                "trigger": self.trigger,
                "successes": self.successes,
                "rounds_due": self.rounds_due(),
                "instance_ids": [e.instance_id for e in self.experiences],
            })

    @staticmethod
    def problem(path: Path) -> str | None:
        """What is wrong with the buffer file at `path` (None: it is whole, or there is none)."""
        try:
            data = atomic.load_json(path)
        except FileNotFoundError:
            return None
        except atomic.Unreadable as exc:
            return str(exc)
        if not isinstance(data, dict):
            return f"a JSON {type(data).__name__}, not an object"
        ids = data.get("instance_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return "no list of `instance_ids`"
        return None
