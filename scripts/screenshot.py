"""Renders docs/screenshot.svg: the app after a real demo run (scripted model, mini-benchmark).

    .venv/bin/python scripts/screenshot.py
"""

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from awm_tui.app import AwmApp  # noqa: E402
from awm_tui.session import Launch  # noqa: E402


async def main() -> None:
    out = Path(tempfile.mkdtemp(prefix="awm-shot-")) / "run"
    app = AwmApp(Launch(spec_path=str(ROOT / "specs" / "demo.yaml"), overrides={"output_dir": str(out)}))
    async with app.run_test(size=(150, 44)) as pilot:
        for _ in range(1200):
            await pilot.pause(0.25)
            if getattr(app.screen, "model", None) is not None and app.screen.model.state == "completed":
                break
        await pilot.press("3")
        await pilot.pause(0.5)
        app.save_screenshot(str(ROOT / "docs" / "screenshot.svg"))


asyncio.run(main())
