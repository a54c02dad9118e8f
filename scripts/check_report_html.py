#!/usr/bin/env python3
"""Open an `awm-tui compare` report.html in real headless Chromium and check that every figure rendered.

The report carries a small inline script that, once the page has loaded, counts the <img> elements the browser
decoded (complete, with a natural width) and writes "images: N/M rendered" into <p id="render-check">. This script
has Chromium load the page offline, dumps the DOM after the load and reads that line: exit 0 when every figure
rendered (and there is at least one), 1 when not, 2 when Chromium cannot be run.

    scripts/check_report_html.py compare-20250101-120000/report.html
    scripts/check_report_html.py report.html --screenshot report.png      # also a picture of the page (1200x2400)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHECK = re.compile(r'id="render-check"[^>]*>\s*images: (\d+)/(\d+) rendered')


def find_chromium(explicit: str | None = None) -> str | None:
    """The Chromium binary: `explicit`, else the first of BROWSERS on PATH."""
    if explicit:
        return explicit if Path(explicit).is_file() or shutil.which(explicit) else None
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def chromium(binary: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run headless Chromium with a throw-away profile (no sandbox: this runs as root in containers)."""
    with tempfile.TemporaryDirectory(prefix="check-report-") as profile:
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                   f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=profile)


def check(page: Path, binary: str, timeout: float) -> tuple[bool, str]:
    """(every figure rendered, what was found)."""
    result = chromium(binary, ["--dump-dom", page.resolve().as_uri()], timeout)
    found = CHECK.search(result.stdout)
    if found is None:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return False, (f"{page}: the page did not report its figures (no 'images: N/M rendered' in the DOM Chromium "
                       f"dumped; exit {result.returncode}: {detail}). Is it a report written by `awm-tui compare`?")
    rendered, total = int(found[1]), int(found[2])
    expected = len(re.findall(r"<img\b", page.read_text(encoding="utf-8", errors="replace")))
    if total == 0:
        return False, f"{page}: the page has no figure."
    if rendered != total or total != expected:
        return False, f"{page}: only {rendered} of {total} figures rendered ({expected} <img> in the file)."
    return True, f"{page}: all {total} figures rendered in Chromium."


def screenshot(page: Path, out: Path, binary: str, timeout: float, size: str) -> tuple[bool, str]:
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    result = chromium(binary, [f"--screenshot={out}", f"--window-size={size}", page.resolve().as_uri()], timeout)
    if not out.is_file() or out.stat().st_size == 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return False, f"{page}: Chromium wrote no screenshot to {out} (exit {result.returncode}: {detail})."
    return True, f"screenshot: {out}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Check that a compare report.html renders all its figures in headless "
                                "Chromium; optionally save a screenshot of it.")
    p.add_argument("report", type=Path, help="the report.html to open")
    p.add_argument("--screenshot", type=Path, metavar="PNG", help="also save a screenshot of the page here")
    p.add_argument("--window-size", default="1200,2400", help="the screenshot's size, WIDTH,HEIGHT (default 1200,2400)")
    p.add_argument("--chromium", help="the browser binary (default: chromium, chromium-browser or google-chrome on "
                   "PATH)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to give Chromium per run (default 60)")
    args = p.parse_args(argv)
    if not args.report.is_file():
        print(f"check_report_html: {args.report} is not a file; give the report.html `awm-tui compare` wrote.",
              file=sys.stderr)
        return 2
    binary = find_chromium(args.chromium)
    if binary is None:
        print(f"check_report_html: no Chromium found ({args.chromium or ', '.join(BROWSERS)}); install it (Debian: "
              "`apt-get install chromium`) or give its path with --chromium.", file=sys.stderr)
        return 2
    try:
        ok, message = check(args.report, binary, args.timeout)
        if ok and args.screenshot:
            ok, shot = screenshot(args.report, args.screenshot, binary, args.timeout, args.window_size)
            message += "\n" + shot
    except subprocess.TimeoutExpired:
        print(f"check_report_html: Chromium did not finish within {args.timeout:g} s on {args.report}; give it more "
              "time with --timeout.", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"check_report_html: cannot run {binary} ({exc.strerror or exc}).", file=sys.stderr)
        return 2
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
