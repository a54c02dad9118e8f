"""What the outside asks of a running engine: a pause or a stop, from the app's keys, the signals (Controls), or a
watcher in another process through the run folder's control.json (RequestPoller). Nothing is ever killed: a pause
lets the issues in flight finish, a stop interrupts them (they are redone on resume)."""

from __future__ import annotations

import os
import threading

from awm.run import events as ev
from awm.run.store import RunStore


class Controls:
    """What the outside asks of a run, from any thread, at any time (even before the engine exists): `pause()`
    stops after the issue in flight, `stop()` also interrupts the agent (the interrupted issue is redone)."""

    def __init__(self) -> None:
        self.pause_requested = threading.Event()
        self.stop_requested = threading.Event()

    def pause(self) -> None:
        self.pause_requested.set()

    def stop(self) -> None:
        self.pause_requested.set()
        self.stop_requested.set()

    def cancel_pause(self) -> bool:
        """Take back a pause that has not happened yet (the issues in flight are still finishing): the run goes on
        to the next issue. A stop cannot be taken back. Whether the pause was cancelled."""
        if self.stop_requested.is_set() or not self.pause_requested.is_set():
            return False
        self.pause_requested.clear()
        return True


class RequestPoller:
    """A watcher's pause or stop (`awm-tui watch`, from another process) reaching this engine: control.json in the
    run folder (RunStore.request_control) is read every POLL_S seconds by a thread of its own while the engine holds
    the run's lock, and turned into the same safe pause or stop the app's keys and the signals ask for (Controls),
    said once in the log (a Notice). A request meant for an earlier owner is removed unheeded (RunStore.take_request),
    so a stale file never stops a resumed run. Nothing is ever killed."""

    POLL_S = 0.5

    def __init__(self, store: RunStore, controls: Controls, emit, since: float) -> None:
        self.store, self.controls, self.emit, self.since = store, controls, emit, since
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RequestPoller:
        self._thread = threading.Thread(target=self._run, name="control-requests", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.wait(self.POLL_S):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - a watcher's file must never stop the run
                pass

    def poll(self) -> str | None:
        """Honour a pending request; the request honoured ("pause" | "stop"), or None."""
        record = self.store.take_request(os.getpid(), self.since)
        if record is None:
            return None
        by = f" ({record['by']})" if record.get("by") else ""
        if record["request"] == "stop":
            self.controls.stop()
            text = (f"stop asked for by a watcher{by}: stopping at the next safe point; the issue in flight is "
                    "redone on resume")
        else:
            self.controls.pause()
            text = f"pause asked for by a watcher{by}: pausing after the issue in flight"
        self.emit(ev.Notice(text))
        return record["request"]

    def close(self) -> None:
        self._done.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
