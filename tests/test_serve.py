"""`awm-tui serve`: the app in a browser (textual-serve). A real server (a subprocess on a free port), real HTTP and
websocket clients, a real headless Chromium that draws the app: the run picker, then a finished run's screen.

docs/serve.png is this test's screenshot, taken on a demo run instead of the stub run:
    ./awm-tui --no-ui specs/demo.yaml --limit 4        (with AWM_TUI_HOME=/tmp/h)
    AWM_TUI_HOME=/tmp/h AWM_TUI_SERVE_PNG=docs/serve.png .venv/bin/python -m pytest tests/test_serve.py -k chromium
(AWM_TUI_HOME set: the runs already there are served, and the newest is opened.)"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from awm_tui.commands.cli import main
from conftest import ROOT, cli

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


# ------------------------------------------------------------------ a served `awm-tui serve`

class Served:
    """`awm-tui serve --port 0 ARGS` as a subprocess in a process group of its own (its browser sessions are in it
    too), its output read by threads; `port` once it listens."""

    def __init__(self, *args: str, home: Path, timeout: float = 90.0) -> None:
        env = {**os.environ, "AWM_TUI_HOME": str(home)}
        self.proc = subprocess.Popen(cli("serve", "--port", "0", *args), cwd=ROOT, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.out: list[str] = []
        self.err: list[str] = []
        self._lines: queue.Queue = queue.Queue()
        self.readers = [threading.Thread(target=self._read, args=(stream, into), daemon=True)
                        for stream, into in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for reader in self.readers:
            reader.start()
        found = self.wait_for(r"the app at http://(\S+?):(\d+)/", timeout)
        self.host, self.port = found[1], int(found[2])

    def _read(self, stream, into: list[str]) -> None:
        for line in stream:
            into.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.out + self.err:
                if found := re.search(pattern, line):
                    return found
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None and self._lines.empty():
                raise AssertionError(f"no {pattern!r} from awm-tui serve (exit {self.proc.poll()}); stdout "
                                     f"{''.join(self.out)!r}, stderr {''.join(self.err)!r}")
            try:
                self._lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                pass

    def stop(self, timeout: float = 90.0) -> int:
        """Ctrl-C (SIGINT to the server alone); its exit status."""
        self.proc.send_signal(signal.SIGINT)
        status = self.proc.wait(timeout)
        for reader in self.readers:  # the last lines read (at the pipes' end; a session left holding them: 10 s)
            reader.join(10)
        return status

    def group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


@pytest.fixture
def serving(tmp_path):
    """Starts `awm-tui serve`s; every one left, and its sessions, killed at the end."""
    started: list[Served] = []

    def start(*args: str, home: Path | None = None) -> Served:
        started.append(Served(*args, home=home or tmp_path / "home"))
        return started[-1]

    yield start
    for served in started:
        served.kill()


def http_get(url: str, headers: dict | None = None) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def other_address() -> str | None:
    """An IPv4 address of this machine that is not loopback, if it has one."""
    try:
        import psutil

        for addresses in psutil.net_if_addrs().values():
            for address in addresses:
                if address.family == socket.AF_INET and not address.address.startswith("127."):
                    return address.address
    except ImportError:
        pass
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: only the route's source address is chosen
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") or address == "0.0.0.0" else address


async def session_text(url: str, want: list[str], timeout: float = 90.0, origin: str | None = None) -> str:
    """Open a browser session's websocket as the page does, and read what the app draws until every one of `want`
    has come (escape sequences dropped). Closing the socket afterwards ends the session."""
    import aiohttp

    seen = ""
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{url}ws?width=140&height=40",
                                   headers={"Origin": origin} if origin else None) as ws:
            deadline = time.monotonic() + timeout
            while not all(w in seen for w in want):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the session did not show {want} in {timeout} s; it showed {seen[-2000:]!r}")
                try:
                    message = await ws.receive(timeout=left)
                except asyncio.TimeoutError:
                    continue
                if message.type == aiohttp.WSMsgType.BINARY:
                    seen += plain(message.data)
                elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    raise AssertionError(f"the session ended before showing {want}: {seen[-2000:]!r}")
    return seen


def plain(data: bytes) -> str:
    """Terminal output without its escape sequences."""
    return re.sub(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[PX^_].*?\x1b\\|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b.", "",
                  data.decode("utf-8", "replace"))


def finished_run(home: Path) -> Path:
    """A finished run (the stub engine: 4 issues, one failed) under `home`'s runs folder."""
    from support.stubs import make_run

    run = make_run(home / "runs", 4, verdicts={2: "FAIL"})
    run.engine().run()
    return run.store.dir


# ------------------------------------------------------------------ the command line

def test_help_is_quick_and_lists_serve():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "awm_tui.commands.cli", "serve", "--help"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0 and "awm-tui serve" in result.stdout and "--host" in result.stdout
    assert "ssh -L 8765:127.0.0.1:8765" in result.stdout and "no login" in result.stdout
    assert not re.search(r"\|\s+(aiohttp|textual|textual_serve|jinja2|rich)\b", result.stderr)
    top = subprocess.run(cli("--help"), capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "`serve` (the app in a browser)" in " ".join(top.stdout.split())


@pytest.mark.parametrize("argv, expected", [
    (["--port", "70000"], "--port 70000 is not a port"),
    (["--port", "many"], "argument --port: invalid int value"),
    (["--bogus"], "unrecognized arguments: --bogus"),  # (the app's arguments: checked as `awm-tui`'s)
    (["--port"], "argument --port: expected one argument"),
    (["--host", ""], "--host is empty"),
    (["evaluate", "preds.jsonl"], "`awm-tui evaluate` is a command, not the app"),
    (["--no-ui", "specs/demo.yaml"], "--no-ui runs without the app"),
    (["specs/demo.yaml", "--port", "9000"], "--port came after the app's arguments"),
    (["--limit"], "argument --limit: expected one argument"),
    (["watch", "run-a", "run-b"], "watch: unrecognized arguments: run-b"),
])
def test_mistakes_are_one_paragraph_and_status_2(argv, expected, capsys):
    assert main(["serve", *argv]) == 2
    captured = capsys.readouterr()
    message = captured.err.strip()
    assert message.startswith("awm-tui: ") and expected in message, message
    assert "\n" not in message and "Traceback" not in message and captured.out == ""


# ------------------------------------------------------------------ the server

def test_a_port_in_use_or_an_address_not_here_is_one_paragraph_and_status_2(capsys):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        assert main(["serve", "--port", str(port)]) == 2
    finally:
        taken.close()
    captured = capsys.readouterr()
    message = captured.err.strip()
    assert message.startswith(f"awm-tui: serve: port {port} on 127.0.0.1 is in use") and "\n" not in message
    assert f"--port {port + 1}" in message and captured.out == "" and "Traceback" not in message
    # an address of another machine (TEST-NET-1, RFC 5737): refused by the system, said without the no-login warning
    assert main(["serve", "--host", "192.0.2.254", "--port", "0"]) == 2
    captured = capsys.readouterr()
    message = captured.err.strip()
    assert message.startswith("awm-tui: serve: cannot listen on port 0 on 192.0.2.254") and "\n" not in message
    assert "warning" not in message and captured.out == ""


def test_answers_on_127_0_0_1_only_offline_and_to_its_own_pages(serving):
    served = serving()
    assert served.host == "127.0.0.1"
    served.wait_for(rf"through an SSH tunnel: ssh -L {served.port}:127\.0\.0\.1:{served.port} ", 10)
    assert "warning" not in "".join(served.err)
    base = f"http://127.0.0.1:{served.port}/"
    status, page = http_get(base)
    assert status == 200 and 'class="textual-terminal"' in page
    assert f'data-session-websocket-url="ws://127.0.0.1:{served.port}/ws"' in page
    # nothing from the internet (textual-serve's page would fetch a Google Fonts stylesheet): the font is bundled
    external = {u for u in re.findall(r"https?://[^\s\"')]+", page)
                if not u.startswith(base) and not u.startswith("http://www.w3.org/")}
    assert external == set(), external
    assert "@font-face" in page and "RobotoMono" in page
    for asset in re.findall(r'(?:href|src)="(http://127\.0\.0\.1:\d+/static/[^"]+)"', page) + [
            base + "static/fonts/RobotoMono-VariableFont_wght.ttf"]:
        assert http_get(asset)[0] == 200, asset
    # the URLs follow the address the browser used (an SSH tunnel's local port may differ)
    status, page = http_get(f"http://localhost:{served.port}/", {"Host": "localhost:9999"})
    assert status == 200 and 'data-session-websocket-url="ws://localhost:9999/ws"' in page
    # DNS rebinding: a request to another name is refused; a websocket from another page too
    status, body = http_get(base, {"Host": f"attacker.example:{served.port}"})
    assert status == 403 and "localhost only" in body
    import aiohttp

    async def foreign_websocket() -> int:
        async with aiohttp.ClientSession() as http:
            try:
                async with http.ws_connect(f"{base}ws", headers={"Origin": "http://attacker.example"}):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert asyncio.run(foreign_websocket()) == 403
    # not on this machine's other addresses
    address = other_address()
    if address is not None:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, served.port), timeout=5).close()
    # Ctrl-C, no session open: stopped at once, no traceback
    started = time.monotonic()
    assert served.stop() == 0
    assert time.monotonic() - started < 10
    assert "".join(served.err).strip().endswith("awm-tui serve: stopped.") and "Traceback" not in "".join(served.err)
    if address is None:
        pytest.skip("this machine has no address but loopback: that the server is not reachable on another was "
                    "not checked")


@pytest.mark.slow  # a server's start: seconds
def test_another_host_warns_there_is_no_login_and_answers_there(serving):
    address = other_address()
    served = serving("--host", "0.0.0.0")
    # stdout and stderr are read by threads of their own: the warning, printed first, may be read after the address
    served.wait_for("there is no login", 10)
    warning = "".join(served.err)
    assert "warning: listening on 0.0.0.0, not only on this machine, and there is no login" in warning
    assert f"anyone who can reach port {served.port} controls awm-tui here" in warning
    assert "ssh -L" not in "".join(served.out)  # no tunnel needed
    assert http_get(f"http://127.0.0.1:{served.port}/")[0] == 200
    if address is None:
        pytest.skip("this machine has no address but loopback")
    status, page = http_get(f"http://{address}:{served.port}/")
    assert status == 200 and f"ws://{address}:{served.port}/ws" in page
    assert served.stop() == 0


@pytest.mark.slow  # the app starts in the session: seconds
def test_a_browser_session_runs_the_app_and_ctrl_c_quits_it_first(serving, tmp_path):
    home = tmp_path / "home"
    finished_run(home)
    served = serving(home=home)
    url = f"http://127.0.0.1:{served.port}/"

    text = asyncio.run(session_text(url, ["Runs (1)", "Enter opens it read-only"],
                                    origin=f"http://127.0.0.1:{served.port}"))
    assert "completed" in text and "4/4" in text and "stub/model" in text, text  # the picker: the run
    # the session's app ended with its websocket: the server's group holds the server alone again
    deadline = time.monotonic() + 30
    while len(children(served.proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert children(served.proc.pid) == []
    # a session open when Ctrl-C comes: its app is quit (safely) before the server stops
    holder = threading.Event()
    done = threading.Event()

    def hold_a_session() -> None:
        async def hold() -> None:
            import aiohttp

            async with aiohttp.ClientSession() as http:
                async with http.ws_connect(f"{url}ws?width=120&height=40") as ws:
                    seen = ""
                    while "Runs (1)" not in seen:
                        message = await ws.receive(timeout=90)
                        if message.type != aiohttp.WSMsgType.BINARY:
                            return
                        seen += plain(message.data)
                    holder.set()
                    async for _ in ws:  # until the server closes it
                        pass
            done.set()

        asyncio.run(hold())

    thread = threading.Thread(target=hold_a_session, daemon=True)
    thread.start()
    assert holder.wait(90), "the second session's app did not show the picker"
    assert len(children(served.proc.pid)) == 1
    assert served.stop() == 0
    err = "".join(served.err)
    assert "1 browser session quitting safely" in err and err.strip().endswith("awm-tui serve: stopped."), err
    assert "Traceback" not in err + "".join(served.out), err
    assert done.wait(10), "the browser's websocket was not closed"
    deadline = time.monotonic() + 10
    while served.group_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not served.group_alive(), "a session's app outlived the server"


@pytest.mark.slow  # the watcher starts in the session: seconds
def test_a_watchers_tab_closing_ends_its_app(serving, tmp_path):
    """`awm-tui serve watch RUN`: the watcher's app ends with its tab, without a traceback. (On a demo run's folder,
    Textual's immediate exit once left the watcher's follower thread polling, and the session's process with it;
    awm_tui.commands.serve.serve_safely makes that exit the watcher's q. This stub run's folder did not show that hang.)"""
    home = tmp_path / "home"
    run_dir = finished_run(home)
    served = serving("watch", str(run_dir), home=home)
    text = asyncio.run(session_text(f"http://127.0.0.1:{served.port}/", ["PASS", "acme__app-4"]))
    assert "FAIL" in text
    deadline = time.monotonic() + 30
    while children(served.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert children(served.proc.pid) == [], "the watcher's app outlived its tab"
    assert served.stop() == 0 and "Traceback" not in "".join(served.err + served.out)


STUBBORN_SERVER = """
import asyncio, sys
from awm_tui.commands import serve
serve.STOP_WAIT_SECONDS = float(sys.argv[1])
app = "import sys, time; sys.stdout.write('__GANGLION__\\n'); sys.stdout.flush(); time.sleep(600)"
sys.exit(asyncio.run(serve.serve("exec " + sys.executable + " -c " + repr(app), "127.0.0.1", 0)))
"""


@pytest.mark.slow  # two servers: seconds
@pytest.mark.parametrize("how", ["wait", "twice"])
def test_a_session_that_does_not_quit_is_ended_after_the_wait_or_at_a_second_ctrl_c(how, tmp_path, kill_after):
    """A tab's app that does not quit when asked (a run whose engine does not reach a safe point): the server ends it
    after STOP_WAIT_SECONDS, or at once on a second Ctrl-C (exit status 130), and says so."""
    proc = subprocess.Popen([sys.executable, "-c", STUBBORN_SERVER, "2" if how == "wait" else "600"], cwd=ROOT,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    kill_after.append(proc.pid)
    line = proc.stdout.readline()
    port = int(re.search(r"127\.0\.0\.1:(\d+)/", line)[1])

    async def open_session_then_stop() -> None:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
                page = asyncio.create_task(ws.receive(timeout=120))  # the page reads on, as a browser does
                deadline = time.monotonic() + 30
                while len(children(proc.pid)) < 1:
                    assert time.monotonic() < deadline, "the session's process did not start"
                    await asyncio.sleep(0.1)
                session = children(proc.pid)[0]
                proc.send_signal(signal.SIGINT)
                if how == "twice":
                    await asyncio.sleep(1.0)
                    assert proc.poll() is None  # still waiting for the session
                    proc.send_signal(signal.SIGINT)
                status = await asyncio.to_thread(proc.wait, 30)
                assert status == (130 if how == "twice" else 0)
                import psutil

                assert not psutil.pid_exists(session) or psutil.Process(session).status() == psutil.STATUS_ZOMBIE
                if how == "wait":  # the page is told the session ended
                    assert (await asyncio.wait_for(page, 10)).type in (aiohttp.WSMsgType.CLOSE,
                                                                      aiohttp.WSMsgType.CLOSED)
                page.cancel()

    asyncio.run(open_session_then_stop())
    err = proc.stderr.read()
    assert "1 browser session quitting safely" in err and "Traceback" not in err
    if how == "wait":
        assert "1 browser session had not quit after 2 s and were ended" in err
        assert err.strip().endswith("awm-tui serve: stopped.")
    else:
        assert err.strip().endswith("stopped at once; the browser sessions' runs are left interrupted (resumable).")


def children(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []


# ------------------------------------------------------------------ closing the tab quits safely

@pytest.mark.asyncio
async def test_the_web_drivers_exit_is_the_safe_stop_while_a_run_is_on(monkeypatch, tmp_path):
    """Textual's web driver turns the tab closing, the server's "quit" and SIGINT/SIGTERM into ExitApp, an
    immediate exit: the served app stops the engine at a safe point first, and exits once it has stopped."""
    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))
    from textual import messages

    import fake_engine
    from awm_tui.commands.serve import served_app
    from awm_tui.session import Launch
    from test_tui import drive, run_screen, until

    factory = fake_engine.factory(hold_at=[f"issue:{fake_engine.IDS[1]}", "stopped"])
    app = served_app(Launch(spec_path="fake.yaml"), factory=factory)
    async with drive(app) as pilot:
        screen = run_screen(app)
        await until(pilot, lambda: factory.reached(f"issue:{fake_engine.IDS[1]}"), what="the second issue")
        app.post_message(messages.ExitApp())
        await until(pilot, lambda: factory.reached("stopped"), what="the engine to see the stop")
        await pilot.pause(0.3)
        assert app.is_running and app.return_code is None and screen.model.state == "stopping"
        app.post_message(messages.ExitApp())  # again (a second signal): still the safe stop
        await pilot.pause(0.2)
        assert app.is_running
        factory.release("stopped")
        await until(pilot, lambda: app.return_code is not None, what="the app to exit")
    assert factory.engine.finished.outcome == "paused"
    # no run on: the exit is at once
    app = served_app(None)
    async with drive(app) as pilot:
        app.post_message(messages.ExitApp())
        await until(pilot, lambda: not app.is_running, what="the app to exit")


# ------------------------------------------------------------------ a real browser

def chromium_binary() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


async def browse(url: str, steps: list[tuple[str | None, str]], size=(1280, 800), timeout: float = 90.0
                 ) -> tuple[bytes, str, str]:
    """Open `url` in headless Chromium (driven over the DevTools protocol) and, for each (key, text) of `steps`,
    press the key (None: none) and wait until the app has sent `text` to the page and gone quiet; then a screenshot.
    (the PNG, all the terminal text the page received, the page body's classes)."""
    import aiohttp

    profile = tempfile.mkdtemp(prefix="awm-serve-chromium-")
    browser = subprocess.Popen([chromium_binary(), "--headless=new", "--no-sandbox", "--no-first-run",
                                "--hide-scrollbars", "--disable-extensions", "--enable-unsafe-swiftshader",
                                f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                f"--window-size={size[0]},{size[1]}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        endpoint = None
        deadline = time.monotonic() + 60
        while endpoint is None and time.monotonic() < deadline:
            line = await asyncio.to_thread(browser.stderr.readline)
            if not line:
                break
            endpoint = re.search(r"DevTools listening on ws://([^/]+)/", line)
        assert endpoint, "Chromium did not open its DevTools endpoint"
        received = bytearray()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{endpoint[1]}/json/list") as response:
                page = next(t for t in await response.json() if t["type"] == "page")
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as devtools:
                calls: dict[int, asyncio.Future] = {}
                numbers = itertools.count(1)

                async def read() -> None:
                    async for message in devtools:
                        data = json.loads(message.data)
                        if data.get("id") in calls:
                            calls.pop(data["id"]).set_result(data)
                        elif data.get("method") == "Network.webSocketFrameReceived":
                            frame = data["params"]["response"]
                            received.extend(base64.b64decode(frame["payloadData"]) if frame["opcode"] == 2
                                            else frame["payloadData"].encode())

                reader = asyncio.create_task(read())

                async def call(method: str, **params) -> dict:
                    number = next(numbers)
                    calls[number] = asyncio.get_running_loop().create_future()
                    await devtools.send_json({"id": number, "method": method, "params": params})
                    answer = await asyncio.wait_for(calls[number], 30)
                    assert "error" not in answer, answer
                    return answer.get("result", {})

                await call("Network.enable")
                await call("Page.enable")
                await call("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1],
                           deviceScaleFactor=1, mobile=False)
                await call("Page.navigate", url=url)
                for key, text in steps:
                    start = len(received)
                    if key is not None:
                        await call("Runtime.evaluate",
                                   expression="document.querySelector('.xterm-helper-textarea').focus()")
                        code = {"Enter": 13}[key]
                        await call("Input.dispatchKeyEvent", type="keyDown", key=key, code=key,
                                   windowsVirtualKeyCode=code, text="\r")
                        await call("Input.dispatchKeyEvent", type="keyUp", key=key, code=key,
                                   windowsVirtualKeyCode=code)
                    deadline = time.monotonic() + timeout
                    while text not in plain(bytes(received[start:])):
                        assert time.monotonic() < deadline, (f"the page did not get {text!r} in {timeout} s: "
                                                             f"{plain(bytes(received[start:]))[-1500:]!r}")
                        await asyncio.sleep(0.2)
                    quiet = -1
                    while len(received) != quiet:  # the app has drawn the screen: nothing more comes for 1 s
                        quiet = len(received)
                        await asyncio.sleep(1.0)
                classes = (await call("Runtime.evaluate", expression="document.body.className"))["result"]["value"]
                await asyncio.sleep(0.5)  # the last frame painted
                png = base64.b64decode((await call("Page.captureScreenshot", format="png"))["data"])
                reader.cancel()
        return png, plain(bytes(received)), classes
    finally:
        browser.terminate()
        try:
            browser.wait(15)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait(5)
        shutil.rmtree(profile, ignore_errors=True)


def picture(png: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB")


@pytest.mark.slow  # Chromium and the app's start: ~15 s
def test_chromium_shows_the_app_the_picker_then_a_runs_screen(serving, tmp_path):
    if chromium_binary() is None:
        pytest.skip("no Chromium binary (chromium, chromium-browser, google-chrome) on PATH: `apt-get install "
                    "chromium` to run the real-browser check")
    given_home = os.environ.get("AWM_TUI_SERVE_PNG") and os.environ.get("AWM_TUI_HOME")
    home = Path(given_home) if given_home else tmp_path / "home"
    if not given_home:
        finished_run(home)
    served = serving(home=home)
    png, text, classes = asyncio.run(browse(f"http://localhost:{served.port}/", [
        (None, "Enter opens it read-only"),  # the picker, its newest run highlighted
        ("Enter", "opened read-only"),  # the run's screen
    ]))
    assert "-first-byte" in classes.split()  # the page's terminal got the app's output (textual.js's own mark)
    assert "Runs (" in text and "PASS" in text and "Quit safely" in text
    image = picture(png)
    assert image.size == (1280, 800)
    # a drawn screen, not a blank page: many colours, and most of the page not the background
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, len(colours or [])
    background = max(colours)[1]
    other = sum(count for count, colour in colours if colour != background)
    assert other > 0.05 * image.size[0] * image.size[1], other
    if os.environ.get("AWM_TUI_SERVE_PNG"):
        Path(os.environ["AWM_TUI_SERVE_PNG"]).write_bytes(png)
    assert served.stop() == 0
    assert "Traceback" not in "".join(served.err + served.out)


def test_a_session_still_starting_is_asked_to_quit_once_it_runs_not_killed_at_once():
    """The cause of a rare exit 0 where 130 was due: a Ctrl-C in the instant a tab's app was spawned found
    textual-serve's session without its reader task, so its stop() did nothing and the app was killed at once."""
    import asyncio

    from awm_tui.commands.serve import ask_to_quit

    class Starting:  # textual-serve's AppService as it is between spawning its app and making its task
        def __init__(self) -> None:
            self._task = None
            self.asked_with_task: list[bool] = []

        async def stop(self) -> None:
            self.asked_with_task.append(self._task is not None)

    async def scenario() -> Starting:
        service = Starting()

        async def started() -> None:
            await asyncio.sleep(0.3)
            service._task = object()

        await asyncio.gather(started(), ask_to_quit(service))
        return service

    assert asyncio.run(scenario()).asked_with_task == [True]
