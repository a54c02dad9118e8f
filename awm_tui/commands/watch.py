"""`awm-tui watch [RUN]`, and the picker's Enter on a run another process runs: the run screen, read-only, following
the run's folder as it grows (awm.run.follow.Follower turns what the files add into the engine's events, which the
run screen consumes as it does its own engine's: queue, live log of the issues in flight, history, memory browser,
detail tabs).

Keys that differ from the run screen's: p asks the process that runs the run to pause after the issues in flight,
S asks it to stop at the next safe point (the issues in flight are redone on resume): both through the request
file the engine polls (control.json, awm.run.loop.RequestPoller), so the owner stops as safely as by its own keys
or signals, and is never killed. q (Ctrl-C, a signal) quits the watcher only: the run goes on. Esc goes back to the
picker when the watcher was opened from it. A watcher takes no lock and writes nothing but that request file, so
several can watch one run at once; when the owner ends, the screen shows how the run ended, and follows it again if
it is resumed.

Without RUN: the most recently updated run a live process runs; none is a one-paragraph message (exit status 2)."""

from __future__ import annotations

from pathlib import Path

from awm.errors import UserError
from awm.run.follow import POLL_S, most_recent_running
from awm_tui.app import AwmApp
from awm_tui.model import RunModel
from awm_tui.screens.watch import WatchScreen


class WatchApp(AwmApp):
    """The app opened on a watcher (`awm-tui watch`)."""

    def __init__(self, run_dir: Path, interval: float = POLL_S, **kwargs) -> None:
        super().__init__(None, **kwargs)
        self.watch_dir = Path(run_dir)
        self.interval = interval
        self.watched_model: RunModel | None = None

    def first_screen(self) -> WatchScreen:
        screen = WatchScreen(self.watch_dir, interval=self.interval)
        self.watched_model = screen.model
        return screen


def watch_target(run: str | None) -> Path:
    """The run folder to watch: RUN as `--resume` takes it, or the most recent run a live process runs."""
    from awm.run.store import find_run

    if run is None:
        found = most_recent_running()
        if found is None:
            raise UserError("watch: no run is being run by any process now, so there is nothing to follow. Give the "
                            "run to watch (`awm-tui watch RUN`: its folder, or its name under the runs folder; "
                            "`awm-tui` lists the runs), or start one (e.g. `awm-tui --no-ui specs/demo.yaml`).")
        return found
    path = find_run(run)
    if path is None:
        raise UserError(f"watch {run}: no run found there (looked for config.json in {Path(run).expanduser()} and "
                        "under the runs folder). Give a run folder, or the name of a run under the runs folder "
                        "(`awm-tui` lists them).")
    return path.resolve()


def main(run: str | None, pending: list[int] | tuple[int, ...] = ()) -> int:
    """`awm-tui watch [RUN]` (the arguments parsed by awm_tui.commands.cli.watch_parser): the watcher until q.

    Args:
        run: the run's folder or name; None: the most recently updated run a live process runs.
        pending: signals that came before the app's handlers were installed (awm_tui.commands.cli.hold_signals).

    Returns:
        The app's return code (0 unless it ended on an error).

    Raises:
        UserError: no such run, or none being run when RUN is not given (one paragraph, exit status 2).
    """
    run_dir = watch_target(run)
    app = WatchApp(run_dir)
    app.install_signal_handlers(pending=pending)
    from awm_tui.process import quick_exit

    quick_exit()
    app.run()
    model = app.watched_model
    where = f" ({model.state}, {model.stats.processed}/{model.total} done)" if model is not None else ""
    print(f"awm-tui: stopped watching {run_dir}{where}; the run itself was not touched.")
    return app.return_code or 0
