"""Snapshots of the run picker (and the comparison screen), from run folders written for them.
SVGs under tests/__snapshots__/; regenerate with `pytest --snapshot-update` and look at them before accepting."""

from __future__ import annotations

import fake_engine
from snap_support import IDS, SIZE, SnapApp, home, mid_run_app, settled, until  # noqa: F401 - home: a fixture


def test_run_picker(snap_compare, home):
    root = home / "runs"
    fake_engine.write_run(root / "alpha-20250102-030405", name="alpha", processed=3, status="paused",
                          updated_at="2025-01-02T03:04:05", message="paused by request")
    fake_engine.write_run(root / "beta-20250101-101010", name="beta", processed=8, status="completed",
                          updated_at="2025-01-01T10:10:10")
    fake_engine.write_run(root / "gamma-20241231-235959", name="gamma", processed=0, status="new",
                          updated_at="2024-12-31T23:59:59")
    app = SnapApp(factory=fake_engine.factory())
    assert snap_compare(app, terminal_size=SIZE)
