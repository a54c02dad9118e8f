"""`awm-tui serve`: the app in a browser, with Textual's own web serving (textual-serve).

Every browser tab that opens the page gets its own app: `<python> -m awm_tui.commands.cli ARGS` in a process of its
own, drawn by Textual's web driver and shown by textual-serve's terminal page (xterm.js, its fonts and scripts
bundled: nothing is fetched from the internet). The server listens on 127.0.0.1 unless --host says otherwise; there
is no login, so that is the way to keep it to this machine, and an SSH tunnel the way to reach it from another.

Two guards, since a page on 127.0.0.1 is reachable by other pages in the same browser: requests must name a loopback
host (DNS rebinding) unless --host opened the server up, and a websocket must come from the page's own origin.

Closing a tab, the server stopping or a signal quits that tab's app like q: a run's engine stops at a safe point and
the run is recorded paused (Textual's web driver would otherwise exit at once).

Only argparse at import time: `awm-tui serve --help` is instant."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from awm.fmt import count

if TYPE_CHECKING:
    from awm_tui.app import AwmApp

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
SERVED = "AWM_TUI_SERVED"  # set in the browser sessions' environment (awm_tui.commands.cli.run_app)
OTHER_COMMANDS = ("evaluate", "memory", "compare", "export", "experiment", "serve")
STOP_WAIT_SECONDS = 60.0  # at a stop, how long the sessions' engines get to reach a safe point


def parser() -> argparse.ArgumentParser:
    from awm_tui.commands.parsing import Parser  # one-paragraph mistakes, exit status 2

    p = Parser(
        prog="awm-tui serve",
        description="Serve the app in a web browser: each browser tab gets its own awm-tui app, as `awm-tui ARGS`\n"
        "would show it in a terminal (the run picker without ARGS). Listens on 127.0.0.1 only, unless --host\n"
        "says otherwise; from another machine, reach it through an SSH tunnel.",
        epilog="examples:\n"
        "  awm-tui serve                        the run picker, at http://127.0.0.1:8765/\n"
        "  awm-tui serve --port 9000 watch RUN  the screen of a run another process runs (e.g. headless)\n"
        "  ssh -L 8765:127.0.0.1:8765 HOST      (on your machine) then open http://localhost:8765/\n\n"
        "There is no login: anyone who can reach the port controls awm-tui here (starts runs, stops them).\n"
        "Each browser tab runs its own app; closing the tab quits it like q (a run it started pauses safely).\n"
        "To watch a long run, run it headless (`awm-tui --no-ui SPEC`, e.g. under nohup) and serve `watch RUN`\n"
        "(or open it from the picker). Ctrl-C stops the server (the tabs' apps quit safely first).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="P",
                   help=f"the port to listen on (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument("--host", default=DEFAULT_HOST, metavar="H",
                   help=f"the address to listen on (default {DEFAULT_HOST}, this machine only); another, e.g. "
                   "0.0.0.0, opens the app to the network with no login (a warning says so)")
    p.add_argument("args", nargs="*", metavar="ARGS",
                   help="what the app opens, as for `awm-tui` (after serve's own options): nothing for the run "
                   "picker, a SPEC for a new run (one per browser tab!), --resume RUN, watch RUN")
    return p


def split(argv: list[str]) -> tuple[list[str], list[str]]:
    """serve's own options (they come first) and the app's arguments (the rest; or all after `--`)."""
    own: list[str] = []
    at = 0
    while at < len(argv):
        arg = argv[at]
        if arg == "--":
            return own, argv[at + 1:]
        if arg in ("-h", "--help") or arg.startswith(("--port=", "--host=")):
            own.append(arg)
            at += 1
        elif arg in ("--port", "--host"):
            own += argv[at:at + 2]
            at += 2
        else:
            break
    return own, argv[at:]


def app_command(args: list[str]) -> str:
    """The shell command each browser session runs: this Python, the awm-tui command, `args`."""
    import shlex

    return "exec " + shlex.join([sys.executable, "-m", "awm_tui.commands.cli", *args])


def check_app_args(args: list[str], parse: Callable[[list[str]], object]) -> None:
    """The app's arguments are checked once here, not in every browser tab: `parse` is the command line's own
    parser of them (awm_tui.commands.cli.parse_app_args; given, so this module does not import the command line's)."""
    from awm.errors import UserError

    if args[:1] and args[0] in OTHER_COMMANDS:
        raise UserError(f"serve {args[0]}: `awm-tui {args[0]}` is a command, not the app, so it cannot be served. "
                        "Give what `awm-tui` would open: nothing (the run picker), a SPEC, --resume RUN or watch RUN.")
    if "--no-ui" in args:
        raise UserError("serve: --no-ui runs without the app, so there would be nothing to serve. Drop --no-ui "
                        "(`awm-tui --no-ui SPEC` runs headless on its own).")
    for flag in ("--port", "--host"):
        if any(a == flag or a.startswith(flag + "=") for a in args):
            raise UserError(f"serve: {flag} came after the app's arguments ({' '.join(args)}). Put serve's own "
                            f"options first, e.g. `awm-tui serve {flag} ... SPEC`.")
    parse(args)  # a mistake: one paragraph, exit status 2 (awm_tui.commands.parsing)


def loopback(host: str) -> bool:
    """Whether `host` names only this machine (an address, or a name all of whose addresses are loopback)."""
    import ipaddress
    import socket

    name = host.strip("[]")
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    if name.lower() in ("localhost", "localhost.localdomain") or name.lower().endswith(".localhost"):
        return True
    try:
        found = {str(info[4][0]) for info in socket.getaddrinfo(name, None)}
    except OSError:
        return False
    return bool(found) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in found)


def _on_exit_app(self, message) -> None:
    """ExitApp in a browser session: Textual's web driver turns the tab closing (the server's "quit"), SIGINT and
    SIGTERM into it, an immediate exit. While a run's engine (or a watcher's follower) is on, it is the safe quit
    instead, like q: the screen exits the app once the engine has stopped."""
    if self.busy_runs():
        message.prevent_default()
        self.action_quit_now()


def serve_safely() -> None:
    """In a browser session's process (awm-tui serve sets AWM_TUI_SERVED): ExitApp is the safe quit in every awm-tui
    app, the run's and the watcher's (textual dispatches a handler found in any class of the app's MRO)."""
    from awm_tui.app import AwmApp

    _exit_safely(AwmApp)


def served_app(launch, **options):
    """An AwmApp with the browser session's exit (what serve_safely gives every app of a session's process)."""
    from awm_tui.app import AwmApp

    class ServedApp(AwmApp):
        pass

    _exit_safely(ServedApp)
    return ServedApp(launch, **options)


def _exit_safely(app_class: type[AwmApp]) -> None:
    # Textual's own handler takes no message and is a coroutine; ours takes the message (Textual's dispatch passes
    # it to a handler that asks for it) and is not: a replacement of its private handler, untyped by nature.
    app_class._on_exit_app = _on_exit_app  # type: ignore[method-assign,assignment]


def main(argv: list[str], parse_app_args: Callable[[list[str]], object]) -> int:
    """`awm-tui serve [--host H] [--port P] [ARGS]`: the app in a browser until the server is stopped.

    Args:
        argv: the arguments after `serve`: the server's own, then the app's.
        parse_app_args: the app's argument parser (awm_tui.commands.cli.parse_app_args), given so that this module
            does not import the command line's: the app's arguments are checked once, here, not in every tab.

    Returns:
        0 when the server stopped (its sessions' runs stopped at a safe point); 130 when a second signal cut the
        wait for them short.

    Raises:
        UserError: a mistake in the server's or the app's arguments, or an address that cannot be listened on
            (one paragraph, exit status 2).
        SystemExit: from argparse, for --help (status 0).
    """
    from awm.errors import UserError

    own, app_args = split(argv)
    args = parser().parse_args(own)
    if not 0 <= args.port <= 65535:
        raise UserError(f"serve: --port {args.port} is not a port; give one from 1 to 65535 (or 0 for any free "
                        f"one), e.g. --port {DEFAULT_PORT}.")
    check_app_args(app_args, parse_app_args)
    host = args.host.strip("[]")
    if not host:
        raise UserError(f"serve: --host is empty; give an address to listen on, e.g. --host {DEFAULT_HOST}.")
    open_to_network = not loopback(host)
    import asyncio

    return asyncio.run(serve(app_command(app_args), host, args.port, guard_host=not open_to_network,
                             shown_command=" ".join(["awm-tui", *app_args])))


async def serve(command: str, host: str, port: int, *, guard_host: bool = True, shown_command: str = "") -> int:
    """Serve until SIGINT, SIGTERM or SIGHUP; then the sessions' apps are asked to quit (safely) and the server
    stops. 0 when stopped, 130 when a second signal cut the wait for the sessions short."""
    import asyncio
    import signal

    from aiohttp import web

    server = make_server(command, host, port, guard_host=guard_host)
    runner = web.AppRunner(await server._make_app(), handle_signals=False, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise listen_error(exc, host, port) from None
    port = runner.addresses[0][1] if runner.addresses else port
    if not guard_host:  # said once the server listens (a mistake before that is one paragraph alone)
        print(f"awm-tui serve: warning: listening on {host}, not only on this machine, and there is no login: "
              f"anyone who can reach port {port} controls awm-tui here (starts runs, spending on the model's key, "
              f"and stops them). Use the default, {DEFAULT_HOST}, with an SSH tunnel instead where you can.",
              file=sys.stderr, flush=True)
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        import socket

        shown = socket.gethostname()
    print(f"awm-tui serve: the app at http://{shown}:{port}/ (each browser tab runs its own "
          f"`{shown_command or command.removeprefix('exec ')}`); Ctrl-C stops.", flush=True)
    if guard_host:
        print(f"From another machine, through an SSH tunnel: ssh -L {port}:{shown}:{port} THIS-HOST, then open "
              f"http://localhost:{port}/ there.", flush=True)

    loop = asyncio.get_running_loop()
    stop, again = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        (again if stop.is_set() else stop).set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, on_signal)
    try:
        await stop.wait()
        await site.stop()  # no new sessions
        if server.services:
            print(f"awm-tui serve: stopping: {count(len(server.services), 'browser session')} quitting safely (a run's "
                  "engine stops at a safe point; Ctrl-C again to stop at once).", file=sys.stderr, flush=True)
            done = asyncio.ensure_future(server.stop_sessions(STOP_WAIT_SECONDS))
            cut = asyncio.ensure_future(again.wait())
            await asyncio.wait({done, cut}, return_when=asyncio.FIRST_COMPLETED)
            cut.cancel()
            if done.done() and done.result():
                print(f"awm-tui serve: {count(done.result(), 'browser session')} had not quit after "
                      f"{STOP_WAIT_SECONDS:.0f} s and were ended; their runs are left interrupted (resumable).",
                      file=sys.stderr, flush=True)
            if not done.done():
                done.cancel()
                await server.end_sessions()
                await runner.cleanup()
                print("awm-tui serve: stopped at once; the browser sessions' runs are left interrupted "
                      "(resumable).", file=sys.stderr, flush=True)
                return 130
        await runner.cleanup()
        print("awm-tui serve: stopped.", file=sys.stderr, flush=True)
        return 0
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(signum)


def listen_error(exc: OSError, host: str, port: int):
    """Why the server cannot listen, as one paragraph (a UserError: exit status 2)."""
    import errno

    from awm.errors import UserError

    where = f"port {port} on {host}"
    if exc.errno == errno.EADDRINUSE:
        other = port + 1 if 0 < port < 65535 else DEFAULT_PORT + 1
        return UserError(f"serve: {where} is in use (another `awm-tui serve`, or another program), so nothing is "
                         f"served. Stop that program, or give another port, e.g. --port {other}.")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return UserError(f"serve: {where} may not be used ({exc.strerror}); ports below 1024 need root. Give "
                         f"another port, e.g. --port {DEFAULT_PORT}.")
    return UserError(f"serve: cannot listen on {where} ({exc.strerror or exc}): is {host} an address of this "
                     f"machine? Give --host {DEFAULT_HOST} (the default) or one of this machine's addresses.")


def make_server(command: str, host: str, port: int, *, guard_host: bool = True):
    """textual-serve's Server, with: URLs made from the request (so a tunnel's other local port works), the page
    served without its one internet fetch (a Google Fonts stylesheet: the font is bundled), the host and origin
    guards, and the sessions tracked so that a stop can quit them safely."""
    import asyncio
    import re
    from pathlib import Path
    from urllib.parse import urlsplit

    import aiohttp_jinja2
    import jinja2
    import textual_serve
    from aiohttp import web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server, log

    template = (Path(textual_serve.__file__).parent / "templates" / "app_index.html").read_text(encoding="utf-8")
    fonts = """
    <link rel="preload" href="{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf" as="font"
          type="font/ttf" crossorigin />
    <style>
      @font-face { font-family: "Roboto Mono"; font-style: normal; font-weight: 100 700;
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype"); }
      @font-face { font-family: "Roboto Mono"; font-style: italic; font-weight: 100 700;
        src: url("{{ config.static.url }}fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype"); }
    </style>"""
    template = re.sub(r"<link[^>]*fonts\.googleapis\.com[^>]*>", fonts, template, count=1, flags=re.S)
    if "fonts.googleapis.com" in template:  # a textual-serve whose page changed: still served, font from the web
        template = template.replace("<head>", "<head>" + fonts, 1)

    class Session(AppService):
        """One browser tab's app: its environment says it is served (awm_tui.commands.cli: serve_safely, the
        summary)."""

        websocket: web.WebSocketResponse  # the tab's, set when it opens (AwmServer.end_sessions closes them)

        def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
            return {**super()._build_environment(width=width, height=height), SERVED: "1"}

        async def stop(self) -> None:
            """textual-serve's stop ("quit", and its output read to the end), and the process waited for: its
            transport is closed while the loop runs (else a warning at the server's exit)."""
            await super().stop()
            process = self._process
            if process is not None and process.returncode is None:
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    pass

    @web.middleware
    async def guard(request: web.Request, handler):
        name = urlsplit(f"//{request.host}").hostname or ""
        if guard_host and not loopback_name(name):
            raise web.HTTPForbidden(text=f"awm-tui serve answers requests to localhost only, not to {name!r} (a "
                                    "guard against DNS rebinding); open http://localhost:PORT/.")
        origin = request.headers.get("Origin")
        if request.path == "/ws" and origin is not None and urlsplit(origin).netloc != request.host:
            raise web.HTTPForbidden(text=f"awm-tui serve: a websocket from another page ({origin}) is refused.")
        return await handler(request)

    class AwmServer(Server):
        def __init__(self) -> None:
            super().__init__(command, host=host, port=port, title="awm-tui")
            self.services: set[Session] = set()  # the running sessions' textual_serve AppService

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(guard)
            aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"app_index.html": template}))
            return app

        async def on_startup(self, app: web.Application) -> None:
            """(textual-serve prints its logo here; the command prints its own lines)"""

        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request: web.Request) -> dict:
            base = f"{request.scheme}://{request.host}"
            return {
                "font_size": max(6, min(48, _int(request.query.get("fontsize", "16"), 16))),
                "app_websocket_url": ("wss" if request.scheme == "https" else "ws") + f"://{request.host}/ws",
                "config": {"static": {"url": f"{base}/static/"}},
                "application": {"name": self.title},
            }

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            """textual-serve's handler, with each session's app service kept (for a stop) while it runs."""
            websocket = web.WebSocketResponse(heartbeat=15)
            width = max(20, min(1000, _int(request.query.get("width", "80"), 80)))
            height = max(5, min(500, _int(request.query.get("height", "24"), 24)))
            service = None

            async def close() -> None:  # (AppService wants no answer; the websocket's close gives one)
                await websocket.close()

            try:
                await websocket.prepare(request)
                service = Session(self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                                     close=close, download_manager=self.download_manager,
                                     debug=self.debug)
                service.websocket = websocket
                self.services.add(service)
                await service.start(width, height)
                try:
                    await self._process_messages(websocket, service)
                finally:
                    await service.stop()  # "quit" to the app, and wait for it to end
            except asyncio.CancelledError:
                await websocket.close()
            except Exception as error:  # noqa: BLE001 - one session's failure is logged; the server goes on
                log.exception(error)
            finally:
                if service is not None:
                    await service.stop()
                    self.services.discard(service)
            return websocket

        async def stop_sessions(self, timeout: float) -> int:
            """Ask every session's app to quit (textual-serve sends it "quit" when its websocket handler ends) and
            wait, up to `timeout` seconds, for them to end; the ones left are killed (how many)."""
            services = list(self.services)
            if services:
                await asyncio.wait([asyncio.ensure_future(ask_to_quit(s)) for s in services], timeout=timeout)
            return await self.end_sessions()


        async def end_sessions(self) -> int:
            """Kill the sessions' apps still running (how many) and close their pages' websockets (an app that quits
            closes its own: textual-serve's "exit"), so that the pages say the session ended."""
            killed = self.kill_sessions()
            sockets = [s.websocket for s in self.services if not s.websocket.closed]
            if sockets:
                await asyncio.wait([asyncio.ensure_future(w.close()) for w in sockets], timeout=5)
            return killed

        def kill_sessions(self) -> int:
            killed = 0
            for service in list(self.services):
                process = getattr(service, "_process", None)
                if process is not None and process.returncode is None:
                    try:
                        process.kill()
                        killed += 1
                    except ProcessLookupError:
                        pass
            return killed

    return AwmServer()


async def ask_to_quit(service) -> None:
    """Ask one browser session's app to quit (textual-serve's AppService.stop: a "quit" packet, then its end). A
    session still starting (its process spawned, textual-serve's reader task not yet made) would take stop() for a
    no-op, and its app would be killed at once rather than asked: it is asked once it runs (a Ctrl-C in the instant a
    tab opened, seen under load)."""
    import asyncio

    for _ in range(100):  # 5 s at most (the caller's timeout bounds it too)
        if getattr(service, "_task", None) is not None:
            break
        await asyncio.sleep(0.05)
    await service.stop()


def loopback_name(name: str) -> bool:
    """A Host header's name that can only mean this machine (no DNS lookup: that is what a rebinding abuses)."""
    import ipaddress

    name = name.strip("[]").lower()
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default
