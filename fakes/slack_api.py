"""A Slack Web API server of our own, reached through SLACK_API_URL.

Faithful to what slack_sdk sends and expects: POST (form or JSON body) or GET with query
parameters at ``/api/<method>``, the token as ``Authorization: Bearer``, answers
``{"ok": true, ...}`` or ``{"ok": false, "error": ...}`` with HTTP 200, and 429 with a
``Retry-After`` header and ``{"ok": false, "error": "ratelimited"}``. It keeps messages, so
tests read what a channel or thread finally shows, and records every call.

Also serves files (``url_private``: the bot token is required, else Slack's HTML login
page with a 200) and slash-command ``response_url`` endpoints.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fakes.slack_methods import BOT_ID, BOT_USER_ID, TEAM_ID, Message, SlackError, WebApiMethods

__all__ = ["APP_TOKEN", "BOT_ID", "BOT_TOKEN", "BOT_USER_ID", "TEAM_ID", "FakeSlackAPI", "Message"]

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float
    content_type: str
    token: str | None


@dataclass
class Fault:
    status: int
    retry_after: float | None
    times: int
    error: str


class FakeSlackAPI(WebApiMethods):
    """Control API for tests: seed users/messages/files, script faults, read calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._ts = itertools.count(1)
        self.port = 0
        self.reset()

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, port: int = 0) -> None:
        fake = self

        class Handler(_Handler):
            api = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-slack-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def reset(self) -> None:
        with self._lock:
            self.calls: list[Call] = []
            self.responses: list[dict[str, Any]] = []  # bodies POSTed to response_url
            self.messages: list[Message] = []
            self.users: dict[str, dict[str, Any]] = {}
            self.files: dict[str, bytes] = {}
            self.not_member: set[str] = set()  # channels where the bot is not a member
            self.faults: dict[str, list[Fault]] = {}
            self.socket_url: str | None = None
            self.streaming_enabled = True
            self.missing_methods: set[str] = set()  # answered as Slack answers a method it lacks
            self._fail_at: dict[str, tuple[int, dict[str, Any]]] = {}

    # --- seeding ------------------------------------------------------------------------

    def add_user(self, user_id: str, *, name: str, locale: str = "en-US") -> None:
        with self._lock:
            self.users[user_id] = {"id": user_id, "name": name.lower(), "locale": locale,
                                   "profile": {"display_name": name, "real_name": name}}

    def add_message(self, channel: str, text: str, *, user: str, thread_ts: str | None = None,
                    ts: str | None = None) -> str:
        with self._lock:
            ts = ts or self._next_ts()
            self.messages.append(Message(channel=channel, ts=ts, text=text, user=user, thread_ts=thread_ts))
            return ts

    def add_file(self, file_id: str, name: str, content: bytes) -> dict[str, Any]:
        """A file as it appears in an event's ``files`` list."""
        with self._lock:
            self.files[f"{file_id}/{name}"] = content
        url = f"{self.url}/files-pri/{TEAM_ID}-{file_id}/{name}"
        return {"id": file_id, "name": name, "title": name, "mimetype": "text/plain", "filetype": "text",
                "size": len(content), "url_private": url, "url_private_download": f"{url}?download=1",
                "mode": "hosted"}

    def fail(self, method: str, *, status: int = 429, retry_after: float | None = 1.0, times: int = 1,
             error: str = "ratelimited") -> None:
        """The next ``times`` calls of ``method`` fail (429 with Retry-After by default)."""
        with self._lock:
            self.faults.setdefault(method, []).append(Fault(status, retry_after, times, error))

    def fail_nth(self, method: str, nth: int, **fault: Any) -> None:
        """Let ``nth - 1`` calls of ``method`` pass, then fail once (a 429 mid-stream)."""
        with self._lock:
            self._fail_at[method] = (self.count(method, locked=True) + nth, fault)

    # --- reading ------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def count(self, method: str, *, locked: bool = False, channel: str | None = None) -> int:
        """Calls of ``method``; with ``channel``, only those for that channel (jobs of an
        earlier test may still be finishing elsewhere while this one runs)."""
        calls = [c for c in self.calls if c.method == method] if locked else self.calls_to(method)
        return sum(1 for c in calls if channel is None or c.params.get("channel") == channel)

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """The replies under ``thread_ts`` (not the parent), oldest first."""
        with self._lock:
            found = [m for m in self.messages
                     if m.channel == channel and m.thread_ts == thread_ts and m.ts != thread_ts]
        return sorted(found, key=lambda m: float(m.ts))

    def bot_messages(self, channel: str | None = None) -> list[Message]:
        with self._lock:
            found = [m for m in self.messages if m.bot_id and (channel is None or m.channel == channel)]
        return sorted(found, key=lambda m: float(m.ts))

    def message(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            return self._find(channel, ts)

    # --- the API ------------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def handle(self, method: str, params: dict[str, Any], *, token: str | None, content_type: str
               ) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            self.calls.append(Call(method, params, time.time(), content_type, token))
            fault = self._take_fault(method)
            if fault is not None:
                headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
                return fault.status, headers, {"ok": False, "error": fault.error}
            if method == "apps.connections.open":
                if token != APP_TOKEN:
                    return 200, {}, {"ok": False, "error": "invalid_auth"}
                return 200, {}, {"ok": True, "url": self.socket_url}
            if token != BOT_TOKEN:
                return 200, {}, {"ok": False, "error": "not_authed" if not token else "invalid_auth"}
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            if handler is None or method in self.missing_methods:
                return 200, {}, {"ok": False, "error": "unknown_method"}
            try:
                return 200, {}, {"ok": True, **handler(params)}
            except SlackError as err:
                return 200, {}, {"ok": False, "error": str(err)}

    def _take_fault(self, method: str) -> Fault | None:
        at = self._fail_at.get(method)
        if at is not None and self.count(method, locked=True) >= at[0]:
            del self._fail_at[method]
            kw = at[1]
            return Fault(kw.get("status", 429), kw.get("retry_after", 1.0), 1, kw.get("error", "ratelimited"))
        queue = self.faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    def file(self, key: str, *, token: str | None) -> tuple[int, str, bytes]:
        with self._lock:
            self.calls.append(Call("files.download", {"file": key}, time.time(), "", token))
            if token != BOT_TOKEN:  # Slack shows its login page, with a 200
                return 200, "text/html", b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>"
            content = self.files.get(key)
        if content is None:
            return 404, "text/plain", b"not found"
        return 200, "text/plain", content

    def response_url(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        with self._lock:
            self.calls.append(Call("response_url", {"path": path, **body}, time.time(), "application/json", None))
            fault = self._take_fault("response_url")
            if fault is not None:
                return fault.status, b"rate_limited"
            self.responses.append({"path": path, **body})
        return 200, b"ok"

    def response_url_for(self, name: str) -> str:
        return f"{self.url}/commands/{TEAM_ID}/{name}"


class _Handler(BaseHTTPRequestHandler):
    api: FakeSlackAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _token(self, params: dict[str, Any]) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            return auth[len("Bearer ") :]
        return params.pop("token", None)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        if split.path.startswith("/files-pri/"):
            team_file, _, name = split.path[len("/files-pri/") :].partition("/")
            file_id = team_file.split("-", 1)[-1]
            status, ctype, body = self.api.file(f"{file_id}/{name}", token=self._token({}))
            self._send(status, body, ctype)
            return
        self._api(split.path, dict(parse_qsl(split.query)), "query")

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type") or ""
        if split.path.startswith("/commands/"):
            status, body = self.api.response_url(split.path, json.loads(raw or b"{}"))
            self._send(status, body, "text/plain")
            return
        params: dict[str, Any] = dict(parse_qsl(split.query))
        if "application/json" in ctype:
            params.update(json.loads(raw or b"{}"))
        elif raw:
            params.update(parse_qsl(raw.decode()))
            for key in ("prompts", "blocks", "chunks", "metadata"):
                if isinstance(params.get(key), str):  # form bodies carry JSON arrays as strings
                    params[key] = json.loads(params[key])
        self._api(split.path, params, ctype)

    def _api(self, path: str, params: dict[str, Any], ctype: str) -> None:
        if not path.startswith("/api/"):
            self._send(404, b"not found", "text/plain")
            return
        token = self._token(params)
        status, headers, body = self.api.handle(path[len("/api/") :], params, token=token, content_type=ctype)
        self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)
