"""A scripted OpenAI-compatible model on 127.0.0.1: replays per-instance tool calls and writes induction replies.

Stateless: the step to play is the number of assistant messages already in the request.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_PATH = re.compile(r"Repository path: (\S+)")
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
MODEL_PATHS = ("/v1/models", "/models")

# Induction steps per bug category; `{...}` are slots the engine's parser keeps as placeholders.
CATEGORY_STEPS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "incomplete lookup table": (
        "A conversion is right for most inputs but wrong for a few specific values.",
        [
            ("Find the table the conversion walks through", "grep -n '{table_name}' {file_path}"),
            ("Reproduce with one of the failing values", "python -c 'from {module} import {function}; print({function}({value}))'"),
            ("Add the missing entry in its sorted position", "str_replace {file_path}: {old_row} -> {old_row_with_entry}"),
        ],
    ),
    "string normalisation": (
        "Text input in a different form (case, punctuation, encoding) is rejected or kept as written.",
        [
            ("Reproduce with the exact input from the issue", "python -c 'from {module} import {function}; print({function}({raw_input}))'"),
            ("Locate where the input is cleaned before use", "grep -n '{cleaning_call}' {file_path}"),
            ("Normalise the input once, before it is compared or split", "str_replace {file_path}: {old_line} -> {normalised_line}"),
            ("Run the module's tests", "python -m pytest -q {test_file}"),
        ],
    ),
    "off-by-one boundary": (
        "A result is wrong exactly at a limit (an end date, an exact size, a width) while other inputs work.",
        [
            ("Find the comparison or range that decides the limit", "grep -n '{bound_expression}' {file_path}"),
            ("Reproduce with the exact boundary value", "python -c 'from {module} import {function}; print({function}({boundary_value}))'"),
            ("Make the bound match the documented inclusive/exclusive rule", "str_replace {file_path}: {old_bound} -> {new_bound}"),
            ("Run the module's tests", "python -m pytest -q {test_file}"),
        ],
    ),
    "comparison ordering": (
        "Sorting or comparing values gives the wrong order for some inputs.",
        [
            ("Find the key the values are compared by", "grep -n 'def {key_function}' -A 8 {file_path}"),
            ("Check each field of the key has the type and order the spec requires", "python -c 'from {module} import {key_function}; print({key_function}({example}))'"),
            ("Change the key, not the comparison", "str_replace {file_path}: {old_key} -> {new_key}"),
        ],
    ),
    "parsing edge case": (
        "A parser handles the simple form but mishandles a legal variant of the input.",
        [
            ("Read the parser's loop and how it splits each line or token", "sed -n '1,40p' {file_path}"),
            ("Reproduce with the variant from the issue", "python -c 'from {module} import {parser}; print({parser}({variant_input}))'"),
            ("Handle the variant where the token is split or classified", "str_replace {file_path}: {old_split} -> {new_split}"),
            ("Run the parser's tests", "python -m pytest -q {test_file}"),
        ],
    ),
    "stale state update": (
        "An object's internal order or bookkeeping is not updated on one of its operations.",
        [
            ("List the operations that should update the state", "grep -n 'def \\|{state_attribute}' {file_path}"),
            ("Update the state in the operation that forgets to", "str_replace {file_path}: {old_body} -> {body_with_update}"),
            ("Run the class's tests", "python -m pytest -q {test_file}"),
        ],
    ),
}
GENERIC_STEPS = (
    "An issue reports wrong output for a specific input.",
    [
        ("Reproduce the reported behaviour", "python -c 'from {module} import {function}; print({function}({input}))'"),
        ("Edit the responsible line", "str_replace {file_path}: {old_code} -> {new_code}"),
        ("Run the tests for the module", "python -m pytest -q {test_file}"),
    ],
)


def default_scripts() -> dict[str, dict]:
    from awm.demo.minibench.scripts import SCRIPTS

    return SCRIPTS


class ScriptedServer:
    """The model server; `start()` returns its base URL (also `.base_url`), `requests` records every chat request."""

    def __init__(self, scripts: dict[str, dict] | None = None, record_path: Path | None = None):
        self.scripts = default_scripts() if scripts is None else scripts
        self.record_path = Path(record_path) if record_path else None
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None

    def start(self, port: int = 0) -> str:
        handler = type("Handler", (_Handler,), {"server_model": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="scripted-model", daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        return self.base_url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = self._thread = None

    def __enter__(self) -> ScriptedServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def record(self, kind: str, instance_id: str | None, body: Any) -> int:
        with self._lock:
            entry = {"seq": len(self.requests) + 1, "time": time.time(), "kind": kind, "instance_id": instance_id, "body": body}
            self.requests.append(entry)
            if self.record_path is not None:
                with self.record_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
                    f.flush()
            return entry["seq"]

    def reply(self, body: dict) -> tuple[int, dict, str]:
        """(seq, the assistant message, finish_reason) for a chat request."""
        messages = body.get("messages") or []
        if body.get("tools"):
            instance_id = self.find_instance(_user_text(messages))
            seq = self.record("agent", instance_id, body)
            message = self.agent_message(instance_id, messages, seq)
            return seq, message, "tool_calls" if message.get("tool_calls") else "stop"
        seq = self.record("induction", None, body)
        return seq, {"role": "assistant", "content": self.induction_text(_all_text(messages))}, "stop"

    def find_instance(self, text: str) -> str | None:
        return next((iid for iid, script in self.scripts.items() if script["match"] in text), None)

    def agent_message(self, instance_id: str | None, messages: list[dict], seq: int) -> dict:
        steps = self.scripts[instance_id]["steps"] if instance_id else []
        number = sum(1 for message in messages if message.get("role") == "assistant")
        if number < len(steps):
            step = steps[number]
        else:
            step = {"tool": "finish", "args": {"message": "Done."}}
        if "text" in step:  # a reply in words and no tool call (a model that does not use the tools)
            return {"role": "assistant", "content": step["text"]}
        user = next((m for m in messages if m.get("role") == "user"), {})
        found = REPO_PATH.search(_content_text(user.get("content")))
        args = _fill(step["args"], found.group(1)) if found else step["args"]
        # The id depends only on the conversation, so a replayed conversation is byte-for-byte the same.
        tag = hashlib.sha1(f"{instance_id}:{number}".encode()).hexdigest()[:8]
        call = {"id": f"call_{tag}_{number}", "type": "function", "function": {"name": step["tool"], "arguments": json.dumps(args)}}
        return {"role": "assistant", "content": step.get("thought"), "tool_calls": [call]}

    def induction_text(self, text: str) -> str:
        """One workflow for each of the (at most two) most common bug categories among the instances in `text`."""
        seen = sorted(iid for iid, script in self.scripts.items() if _mentions(text, iid) or script["match"] in text)
        if not seen:
            return "No new workflows."
        counts: dict[str, int] = {}
        for iid in seen:
            category = self.scripts[iid].get("category", "general fix")
            counts[category] = counts.get(category, 0) + 1
        chosen = sorted(counts, key=lambda category: (-counts[category], category))[:2]
        suffix = hashlib.sha1(",".join(seen).encode()).hexdigest()[:4]
        return "\n\n".join(_workflow(category, suffix) for category in chosen) + "\n"


def _workflow(category: str, suffix: str) -> str:
    when, steps = CATEGORY_STEPS.get(category, GENERIC_STEPS)
    lines = [f"## Workflow: {category.title()} v{suffix}", f"When to use: {when}", "Steps:"]
    lines += [f"{n}. {reason} — `{action}`" for n, (reason, action) in enumerate(steps, start=1)]
    return "\n".join(lines)


def _mentions(text: str, instance_id: str) -> bool:
    """Whether `text` names `instance_id` (tallyho-1 is not named by tallyho-12)."""
    return re.search(re.escape(instance_id) + r"(?![\w-])", text) is not None


def _fill(value: Any, repo: str) -> Any:
    if isinstance(value, str):
        return value.replace("{repo}", repo)
    if isinstance(value, dict):
        return {key: _fill(item, repo) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, repo) for item in value]
    return value


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _user_text(messages: list[dict]) -> str:
    return "\n".join(_content_text(m.get("content")) for m in messages if m.get("role") == "user")


def _all_text(messages: list[dict]) -> str:
    return "\n".join(_content_text(m.get("content")) for m in messages)


def _usage(body: dict, message: dict) -> dict:
    reply = (message.get("content") or "") + "".join(c["function"]["arguments"] for c in message.get("tool_calls", []))
    prompt = max(1, len(json.dumps(body.get("messages", []))) // 4)
    completion = max(1, len(reply) // 4)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class _Handler(BaseHTTPRequestHandler):
    server_model: ScriptedServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") in MODEL_PATHS:
            self._json(200, {"object": "list", "data": [{"id": "scripted", "object": "model", "created": 0, "owned_by": "awm"}]})
        else:
            self._error(404, f"no such path: {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.split("?")[0].rstrip("/") not in CHAT_PATHS:
            self._error(404, f"no such path: {self.path}")
            return
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            self.server_model.record("unknown", None, None)
            self._error(400, f"request body is not JSON: {exc}")
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self.server_model.record("unknown", None, body)
            self._error(400, "request body must be an object with a `messages` list")
            return
        seq, message, finish_reason = self.server_model.reply(body)
        response = {
            "id": f"chatcmpl-scripted-{seq}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": _usage(body, message),
        }
        if body.get("stream"):
            self._stream(response, include_usage=bool((body.get("stream_options") or {}).get("include_usage")))
        else:
            self._json(200, response)

    def _stream(self, response: dict, include_usage: bool) -> None:
        message, finish_reason = response["choices"][0]["message"], response["choices"][0]["finish_reason"]
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if message.get("tool_calls"):
            delta["tool_calls"] = [dict(call, index=i) for i, call in enumerate(message["tool_calls"])]
        base = {key: response[key] for key in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
        chunks = [
            base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
            base | {"choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]},
        ]
        if include_usage:
            chunks.append(base | {"choices": [], "usage": response["usage"]})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        kind = "invalid_request_error" if status == 400 else "not_found_error"
        self._json(status, {"error": {"message": message, "type": kind, "code": status}})
