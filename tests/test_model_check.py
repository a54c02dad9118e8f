"""The check before issue 1 (awm.model.check) against real HTTP servers on 127.0.0.1: a key refused in any wording
is a message about the key; a connection reset once is asked again, not a dead server."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from awm.errors import UserError
from awm.model.check import check_model
from awm.model.client import describe_fault
from awm.spec import LLMSpec

OK = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
      "choices": [{"index": 0, "message": {"role": "assistant", "content": "OK"}, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}


class Server:
    """Answers chat requests from a list of behaviours, one per request: "reset" drops the connection, an int is
    that HTTP status with a non-OpenAI error body, "ok" a normal reply."""

    def __init__(self, plan: list):
        self.plan, self.seen = list(plan), 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                step = owner.plan[min(owner.seen, len(owner.plan) - 1)]
                owner.seen += 1
                if step == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.close()
                    return
                status, body = (200, OK) if step == "ok" else (step, {"detail": "Unauthorized: token rejected"})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    made = []

    def start(plan):
        made.append(Server(plan))
        return made[-1]

    yield start
    for server in made:
        server.close()


def llm(url: str) -> LLMSpec:
    return LLMSpec(model="openai/m", base_url=url, api_key="sk-wrong-key-000", api_key_env="MY_KEY")


def test_a_key_refused_in_any_wording_is_a_message_about_the_key(serve):
    server = serve([401])
    with pytest.raises(UserError) as err:
        check_model(llm(server.url))
    assert err.value.field == "llm" and "refused the API key" in str(err.value) and "MY_KEY" in str(err.value)
    assert "sk-wrong-key-000" not in str(err.value)


def test_one_connection_reset_is_asked_again(serve, monkeypatch):
    monkeypatch.setattr("awm.model.check.RETRY_WAIT_S", 0.0)  # asked again at once rather than 1 s later
    server = serve(["reset", "ok"])
    check_model(llm(server.url))  # no error
    assert server.seen == 2


def test_a_server_that_keeps_resetting_is_unreachable(serve, monkeypatch):
    monkeypatch.setattr("awm.model.check.RETRY_WAIT_S", 0.0)
    server = serve(["reset"])
    with pytest.raises(UserError, match="is unreachable at"):
        check_model(llm(server.url))
    assert server.seen == 3


def test_a_long_raw_error_is_cut_and_an_empty_answer_is_named():
    raw = "APIError: " + "{'id': 'x', 'choices': [], 'usage': {}} " + "x" * 1500
    text = describe_fault(raw)
    assert text.startswith("the model's reply held no answer") and len(text) < 320
