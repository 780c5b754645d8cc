"""The model registry as the job runner sees it: names, each job's default, and one shared
client per model (``core.ports.ModelDirectory``)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from core.models import Flavour, ModelSpec, Registry
from core.ports import ModelClient
from core.settings import Settings
from worker.llm.openai_compat import OpenAICompatClient
from worker.llm.tgi import TGIClient

# A /models listing checks every endpoint; a few seconds of memory keeps a burst of
# listings from probing them all again.
_REACHABLE_TTL = 10.0


def make_client(spec: ModelSpec, *, settings: Settings, health_timeout: float = 2.0) -> ModelClient:
    if spec.flavour is Flavour.TGI:
        return TGIClient(spec, settings=settings, health_timeout=health_timeout)
    return OpenAICompatClient(spec, settings=settings, health_timeout=health_timeout)


class ModelClients:
    def __init__(self, registry: Registry, *, settings: Settings, health_timeout: float = 2.0) -> None:
        self._registry = registry
        self._settings = settings
        self._health_timeout = health_timeout
        self._clients: dict[str, ModelClient] = {}
        self._reachable: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return self._registry.names()

    def default_for(self, kind: str) -> str:
        return self._registry.default_for(kind)

    def client(self, name: str) -> ModelClient:
        """The one client of ``name`` (KeyError for a name the registry doesn't have)."""
        with self._lock:
            found = self._clients.get(name)
            if found is None:
                spec = self._registry.get(name)
                found = make_client(spec, settings=self._settings, health_timeout=self._health_timeout)
                self._clients[name] = found
            return found

    def describe(self, name: str) -> str:
        spec = self._registry.get(name)
        return spec.description or f"{spec.model_id} ({spec.flavour.value})"

    def is_hosted(self, name: str) -> bool:
        return self._registry.is_hosted(name)

    def reachable(self, name: str) -> bool:
        """A health check with a short timeout (TGI ``/health``, OpenAI ``{base}/models``),
        remembered for a few seconds."""
        now = time.monotonic()
        with self._lock:
            seen = self._reachable.get(name)
        if seen is not None and now - seen[0] < _REACHABLE_TTL:
            return seen[1]
        ok = self.client(name).healthy()
        with self._lock:
            self._reachable[name] = (time.monotonic(), ok)
        return ok

    def reachability(self) -> dict[str, bool]:
        """Every model's ``reachable``, checked in parallel so that a listing waits for the
        slowest endpoint, not for the sum of them."""
        names = self.names()
        with ThreadPoolExecutor(max_workers=max(len(names), 1)) as pool:
            return dict(zip(names, pool.map(self.reachable, names), strict=True))
