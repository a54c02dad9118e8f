"""Start-up time of `awm-tui --help` (median of 15 runs).

    .venv/bin/python bench/help_time.py
"""

import statistics
import subprocess
import time
from pathlib import Path

EXE = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "awm-tui"

times = []
for _ in range(15):
    t = time.perf_counter()
    subprocess.run([str(EXE), "--help"], check=True, capture_output=True)
    times.append(time.perf_counter() - t)
print(f"awm-tui --help: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms (15 runs)")
