"""The direct baseline: one asyncio process opening N streams at once, as a single-process
bot does. Prints one JSON line: per-stream seconds to the final text, CPU seconds of the
process and its peak RSS.

Run: ``python -m bench.direct --url http://127.0.0.1:P --streams 64 --client aiohttp|hf``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
import uuid
from typing import Any

import aiohttp
from huggingface_hub import AsyncInferenceClient  # imported before the CPU clock starts


async def _aiohttp_stream(session: aiohttp.ClientSession, url: str, prompt: str) -> float:
    started = time.monotonic()
    body = {"inputs": prompt, "parameters": {"max_new_tokens": 200, "details": True}}
    text = ""
    async with session.post(f"{url}/generate_stream", json=body) as response:
        response.raise_for_status()
        async for line in response.content:
            if line.startswith(b"data:"):
                event = json.loads(line[5:])
                if not event["token"]["special"]:
                    text += event["token"]["text"]
    assert text, "the stream carried no text"
    return time.monotonic() - started


async def _hf_stream(client: Any, prompt: str) -> float:
    started = time.monotonic()
    text = ""
    async for event in await client.text_generation(prompt, stream=True, details=True, max_new_tokens=200):
        if not event.token.special:
            text += event.token.text
    assert text, "the stream carried no text"
    return time.monotonic() - started


async def run(url: str, streams: int, client: str) -> list[float]:
    prompts = [f"<|im_start|>user\nbench-{uuid.uuid4().hex[:12]} hello<|im_end|>\n" for _ in range(streams)]
    if client == "hf":
        hf = AsyncInferenceClient(base_url=url, timeout=120)
        return list(await asyncio.gather(*(_hf_stream(hf, p) for p in prompts)))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        return list(await asyncio.gather(*(_aiohttp_stream(session, url, p) for p in prompts)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--client", choices=("aiohttp", "hf"), default="aiohttp")
    args = parser.parse_args()
    cpu = time.process_time()
    totals = asyncio.run(run(args.url, args.streams, args.client))
    cpu = time.process_time() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"totals": totals, "cpu": cpu, "rss_mb": peak_kb / 1024}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
