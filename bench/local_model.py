"""The built-in CPU model through our own client: time to first token and tokens/s.

Starts the llama.cpp server on SmolLM2-135M (as `tertulia up` does) and streams a few jobs'
prompts through worker.llm's OpenAI-compatible client, the same code the worker runs.
Writes its figures to docs/benchmarks.md (section "Local CPU model").

Usage: .venv/bin/python -m bench.local_model [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.report import write_section  # noqa: E402
from core import instructions  # noqa: E402
from core.models import load_registry  # noqa: E402
from core.ports import GenerationRequest  # noqa: E402
from core.settings import Settings  # noqa: E402
from fakes.waiting import free_port  # noqa: E402
from tertulia.local_llm import LocalLLM  # noqa: E402
from worker.llm.openai_compat import OpenAICompatClient  # noqa: E402

PROMPTS = {
    "summarize": instructions.summarize("The committee met on Monday and approved the library budget for next year."),
    "translate": instructions.translate("German", "J'aime l'apprentissage automatique."),
    "code": instructions.code("A Python function that reverses a string"),
    "essay": instructions.essay("The printing press"),
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args()
    server = LocalLLM(port=free_port())
    with tempfile.TemporaryFile() as log:
        started = time.monotonic()
        server.start(log=log)
        try:
            server.wait_ready(timeout=120)
            ready = time.monotonic() - started
            registry = load_registry(REPO / "config" / "models.toml", env={"TERTULIA_LOCAL_LLM_URL": server.url})
            client = OpenAICompatClient(registry.get("smollm2-local"), settings=Settings())
            rows = []
            for job, messages in PROMPTS.items():
                ttfts, rates = [], []
                for _ in range(args.runs):
                    request = GenerationRequest(messages=messages, max_new_tokens=args.max_new_tokens, temperature=0.2)
                    t0 = time.monotonic()
                    first = None
                    count = 0
                    for delta in client.stream(request):
                        if not delta:  # the role-only opening chunk carries no text
                            continue
                        first = first or time.monotonic()
                        count += 1
                    end = time.monotonic()
                    if first is not None and count > 1:
                        ttfts.append(first - t0)
                        rates.append((count - 1) / max(end - first, 1e-6))
                rows.append(
                    f"| {job} | {statistics.median(ttfts):.2f} s | {statistics.median(rates):.0f} |"
                )
        finally:
            server.stop()
    body = "\n".join(
        [
            f"SmolLM2-135M-Instruct Q4_1 on llama-cpp-python (portable build), 2 CPU cores; the server was "
            f"ready {ready:.1f}s after start. Median of {args.runs} runs, up to {args.max_new_tokens} new tokens; "
            "streamed through `worker.llm.openai_compat` (stream chunks counted as tokens).",
            "",
            "| job prompt | time to first token | tokens/s |",
            "|---|---|---|",
            *rows,
        ]
    )
    write_section("Local CPU model", body, command="python -m bench.local_model")
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
