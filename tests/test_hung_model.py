"""A hung model cannot outlive the issue's limit or a stop (project issue 8): the budget arithmetic, the bounded model
call and retry wait, the guard's bounded wait for the conversation, and the bounded SDK LLM against a server that
never answers. Milliseconds each but the last (slow: the agent stack's import, then 2 s). The real agent on a
hung server is test_hung_model_agent.py."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from awm.agent.limits import Guard, Outcome, Stop, StopReason
from awm.model.client import ModelCallStopped, bounded_call, bounded_sleep, remaining_timeout


class HungServer:
    """An OpenAI-compatible address on 127.0.0.1 that accepts every request, reads it, and never answers: each
    request waits until the server stops (at most MAX_S), then its connection is dropped."""

    MAX_S = 120.0

    def __init__(self) -> None:
        self.requests = 0
        self.stop = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests += 1
                owner.stop.wait(owner.MAX_S)
                self.close_connection = True

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> HungServer:
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hung_server():
    with HungServer() as server:
        yield server


def guard(seconds: float = 60.0, cancel: threading.Event | None = None) -> Guard:
    return Guard(time.monotonic() + seconds, cancel, lambda hard: None)


# ---------------------------------------------------------------- the budget arithmetic


def test_an_attempt_timeout_never_runs_past_the_deadline():
    assert remaining_timeout(300, deadline=100.0, now=40.0) == 60.0  # the budget is shorter
    assert remaining_timeout(30, deadline=100.0, now=40.0) == 30.0  # the spec's is shorter
    assert remaining_timeout(None, deadline=100.0, now=40.0) == 60.0  # no timeout of its own
    assert remaining_timeout(300, deadline=100.0, now=99.9) == 1.0  # never 0: the bound gives up at the deadline
    assert remaining_timeout(300, deadline=100.0, now=120.0) == 1.0


# ---------------------------------------------------------------- a bounded call


def test_a_call_that_answers_is_returned_and_counted():
    g = guard()
    assert bounded_call(lambda: 42, g) == 42
    assert g.model_calls == 1 and not g.in_model_call and not g.outcome().hung


def test_a_call_that_fails_raises_its_own_error_uncounted():
    g = guard()
    with pytest.raises(ValueError, match="boom"):
        bounded_call(lambda: (_ for _ in ()).throw(ValueError("boom")), g)
    assert g.model_calls == 0 and not g.in_model_call


def test_a_hung_call_is_given_up_at_the_deadline():
    g = guard(0.3)
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(ModelCallStopped) as stopped:
        bounded_call(lambda: release.wait(30), g)
    elapsed = time.monotonic() - started
    release.set()  # lets the abandoned thread end
    assert 0.25 < elapsed < 0.8
    assert stopped.value.reason == "timeout" and "time limit" in str(stopped.value)
    assert g.reason == "timeout" and g.outcome().hung and g.model_calls == 0 and not g.in_model_call


def test_a_hung_call_is_given_up_on_a_stop_request():
    cancel = threading.Event()
    g = guard(60, cancel)
    release = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ModelCallStopped) as stopped:
        bounded_call(lambda: release.wait(30), g)
    release.set()
    assert time.monotonic() - started < 0.7
    assert stopped.value.reason == "cancelled" and g.reason == "cancelled" and g.outcome().hung


def test_no_call_starts_once_the_limit_is_past():
    g = guard(-1)
    calls = []
    with pytest.raises(ModelCallStopped):
        bounded_call(lambda: calls.append(1), g)
    assert calls == [] and not g.outcome().hung  # nothing was waiting on the model


def test_the_wait_between_retries_ends_at_the_deadline():
    g = guard(0.3)
    started = time.monotonic()
    with pytest.raises(ModelCallStopped):
        bounded_sleep(g, 64)  # the SDK's longest wait between attempts
    assert time.monotonic() - started < 0.7
    bounded_sleep(guard(), 0.05)  # a short wait within the budget is just a wait


# ---------------------------------------------------------------- the guard's bounded wait for the conversation


def test_the_guard_waits_for_work_that_ends():
    g = guard()
    assert g.run(lambda: time.sleep(0.05)) is True and not g.outcome().abandoned
    with pytest.raises(RuntimeError, match="inside"):
        g.run(lambda: (_ for _ in ()).throw(RuntimeError("inside")))


def test_the_guard_abandons_work_that_will_not_end(monkeypatch):
    monkeypatch.setattr(Guard, "ABANDON_S", 0.3)
    g = guard(0.2)
    release = threading.Event()
    started = time.monotonic()
    assert g.run(lambda: release.wait(30)) is False
    release.set()
    assert g.outcome().abandoned and g.reason == "timeout"
    assert 0.45 < time.monotonic() - started < 1.2  # the deadline, then ABANDON_S


def test_the_guard_says_what_it_did_as_one_typed_outcome():
    assert guard().done() == Outcome(stop=None, abandoned=False, model_calls=0)  # within its limits
    cancel = threading.Event()
    g = guard(60, cancel)
    g.in_model_call = True  # as a bounded call sets it while the model has not answered
    cancel.set()
    assert g.check() == StopReason.CANCELLED == "cancelled"
    g.in_model_call, g.deadline = False, 0.0  # what comes after the first stop changes nothing
    assert g.check() == "cancelled"
    outcome = g.done()
    assert isinstance(outcome.stop, Stop) and outcome.stop.reason is StopReason.CANCELLED and outcome.stop.hung
    assert outcome.reason == "cancelled" and outcome.hung and not outcome.abandoned and outcome.stop.spent == ""
    late = guard(-1).done()  # no check made: the guard has not seen its limit, and says so
    assert late.stop is None and late.reason == "" and not late.hung


# ---------------------------------------------------------------- the SDK's LLM, bounded, on a server that never answers


@pytest.mark.slow
def test_the_bounded_sdk_llm_gives_up_a_hung_server_and_does_not_retry_past_the_deadline(hung_server):
    from awm.agent.runner import AgentRunner
    from awm.model.client import sdk_llm
    from awm.spec import LLMSpec

    AgentRunner(None, None).warm_up()  # the stack's imports (seconds), off the clock
    from openhands.sdk import Message, TextContent

    # the spec's own timeout (300 s) and retries (3, 8 s apart) would take minutes
    spec = LLMSpec(model="openai/scripted", base_url=hung_server.base_url, num_retries=3)
    g = guard(2.0)
    llm = sdk_llm(spec, "agent", g)
    started = time.monotonic()
    with pytest.raises(Exception) as raised:
        llm.completion([Message(role="user", content=[TextContent(text="hello?")])])
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"returned after {elapsed:.1f} s"
    assert "ModelCallStopped" in f"{type(raised.value).__name__} {raised.value!r} {raised.value.__cause__!r}"
    assert g.outcome().hung and g.reason == "timeout"
    assert hung_server.requests >= 1

    unbound = sdk_llm(spec, "agent")  # without a bound: the SDK's own LLM, as before
    assert type(unbound).__name__ == "LLM" and unbound.timeout == 300


@pytest.mark.slow  # imports the SDK (seconds)
def test_every_copy_of_the_bounded_llm_shares_its_bound():
    import copy

    from awm.model.client import sdk_llm
    from awm.spec import LLMSpec

    g = guard()
    llm = sdk_llm(LLMSpec(model="openai/scripted", base_url="http://127.0.0.1:9/v1"), "agent", g)
    for other in (llm.model_copy(), llm.model_copy(deep=True), copy.deepcopy(llm)):
        assert other._bound.bound is g  # the SDK copies its LLM: a copied cancel Event would never be set
