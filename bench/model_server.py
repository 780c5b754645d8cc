"""The TGI-protocol fake in a process of its own, instrumented for the benchmark.

It counts the streams in flight (and the most seen at once) and notes, per request, when
its first token left, keyed by the ``bench-<id>`` marker the benchmark puts in each
prompt. Control is plain HTTP on a second loopback port:

* ``GET /stats``: ``{"peak", "now", "streams", "first_token": {marker: monotonic}}``
* ``POST /reset``: peak, counters and first tokens back to zero
* ``POST /delays``: ``{"first_token", "between_tokens"}``

Run: ``python -m bench.model_server --port P --control C --tokens 40`` (it prints ``ready``).
Times are ``time.time()``: one clock for every process on this host, and the clock Redis
stamps stream ids with, so the benchmark compares them with when text became visible.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import threading
import time
from typing import Any

from aiohttp import web

from fakes.tgi_server import FakeTGI, KeepAlive, Plan

MARKER = re.compile(r"bench-[0-9a-f]+")


class CountingTGI(FakeTGI):
    """FakeTGI that always answers the same ``tokens``-word reply and counts its streams."""

    def __init__(self, tokens: int) -> None:
        super().__init__(max_input_tokens=4096, max_total_tokens=8192)
        self.reply = "".join(f" w{i}" for i in range(tokens)).strip()
        self.stats_lock = threading.Lock()
        self.clear_stats()

    def clear_stats(self) -> None:
        with self.stats_lock:
            self.in_flight = 0
            self.peak = 0
            self.streams = 0
            self.first_token: dict[str, float] = {}

    def plan(
        self, prompt: str, user_text: str, schema: dict[str, Any] | None, params: dict[str, Any], *, prefix: str = ""
    ) -> Plan:
        # Every call gets the same reply; records are not kept (a run makes thousands).
        plan = super().plan(prompt, user_text, schema, params, prefix=prefix)
        plan.reply = self.reply
        plan.max_new_tokens = None
        return plan

    async def _record(self, request: web.Request) -> Any:
        return await request.json() if request.can_read_body else None

    async def events(self, plan: Plan, pieces: list[str], keepalive: KeepAlive | None = None) -> Any:
        found = MARKER.search(plan.prompt)
        with self.stats_lock:
            self.in_flight += 1
            self.streams += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            first = True
            async for item in super().events(plan, pieces, keepalive):
                if first and found is not None:
                    with self.stats_lock:
                        self.first_token[found.group(0)] = time.time()
                first = False
                yield item
        finally:
            with self.stats_lock:
                self.in_flight -= 1


async def control(server: CountingTGI, port: int) -> web.AppRunner:
    async def stats(request: web.Request) -> web.Response:
        with server.stats_lock:
            body = {
                "peak": server.peak,
                "now": server.in_flight,
                "streams": server.streams,
                "first_token": dict(server.first_token),
            }
        return web.json_response(body)

    async def reset(request: web.Request) -> web.Response:
        server.clear_stats()
        return web.json_response({})

    async def delays(request: web.Request) -> web.Response:
        body = await request.json()
        server.set_delays(first_token=float(body["first_token"]), between_tokens=float(body["between_tokens"]))
        return web.json_response({})

    app = web.Application()
    app.add_routes([web.get("/stats", stats), web.post("/reset", reset), web.post("/delays", delays)])
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--first", type=float, default=0.5)
    parser.add_argument("--gap", type=float, default=0.05)
    args = parser.parse_args()
    server = CountingTGI(args.tokens).start(args.port)
    server.set_delays(first_token=args.first, between_tokens=args.gap)

    async def serve() -> None:
        runner = await control(server, args.control)
        print("ready", flush=True)
        try:
            # Ends when the benchmark closes our stdin (or dies): no orphan server.
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        finally:
            await runner.cleanup()

    asyncio.run(serve())
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
