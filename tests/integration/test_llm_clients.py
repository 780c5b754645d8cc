"""The model-server clients against the TGI-protocol server over real HTTP: streaming,
details, grammar, /info, /tokenize, and every fault mapped to the core's error tree."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from core.entities import ENTITIES_SCHEMA
from core.errors import ModelError, ModelOverloaded, ModelRejected, ModelStalled, ModelUnavailable
from core.models import Flavour, ModelSpec, Registry
from core.ports import ChatTurn, GenerationRequest, TokenStream
from core.settings import Settings
from fakes.waiting import wait_until
from worker.llm.directory import ModelClients
from worker.llm.openai_compat import OpenAICompatClient
from worker.llm.tgi import TGIClient

pytestmark = pytest.mark.integration

TOKEN_TIMEOUT = 0.5


@pytest.fixture(autouse=True)
def fresh(tgi: Any) -> Iterator[None]:
    tgi.reset()
    yield
    tgi.reset()


def settings() -> Settings:
    return Settings(request_timeout=3.0, token_timeout=TOKEN_TIMEOUT, worker_concurrency=16)


def tgi_spec(url: str, **kwargs: Any) -> ModelSpec:
    fields: dict[str, Any] = {"prompt_format": "chatml", "max_new_tokens": 100, **kwargs}
    return ModelSpec(name="t", flavour=Flavour.TGI, url=url, **fields)


def openai_spec(url: str, **kwargs: Any) -> ModelSpec:
    fields: dict[str, Any] = {"model_id": "test-model", "max_input_tokens": 900, "max_total_tokens": 1000, **kwargs}
    return ModelSpec(name="o", flavour=Flavour.OPENAI, url=url, **fields)


def request(text: str = "hello there", **kwargs: Any) -> GenerationRequest:
    messages = (ChatTurn(role="system", content="Be brief."), ChatTurn(role="user", content=text))
    return GenerationRequest(messages=messages, max_new_tokens=50, **kwargs)


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


# --- TGI native -------------------------------------------------------------------------------


def test_tgi_streams_deltas_in_order_and_reads_the_final_details(tgi: Any) -> None:
    tgi.script("The quick brown fox jumps")
    stream = TGIClient(tgi_spec(tgi.url), settings=settings()).stream(request())
    assert isinstance(stream, TokenStream)
    deltas = list(stream)
    assert deltas == ["The", " quick", " brown", " fox", " jumps"]  # the EOS token (special) is not text
    assert stream.usage.finish_reason == "eos_token"
    assert stream.usage.generated_tokens == 6
    assert stream.usage.prompt_tokens is not None and stream.usage.prompt_tokens > 0

    (sent,) = tgi.generation_requests()
    assert sent.path == "/generate_stream"
    assert sent.body["inputs"] == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhello there<|im_end|>\n<|im_start|>assistant\n"
    )
    assert sent.body["parameters"]["details"] is True
    assert sent.body["parameters"]["max_new_tokens"] == 50
    assert "grammar" not in sent.body["parameters"]


def test_tgi_streams_reuse_a_connection_and_one_left_early_is_closed(tgi: Any) -> None:
    """A finished stream hands its connection to the next; a stream the job leaves (a Stop)
    closes its own, so the server sees the client go and cancels the generation."""
    client = TGIClient(tgi_spec(tgi.url), settings=settings())
    tgi.script("one two", "three four", "five six seven eight nine ten")
    assert "".join(client.stream(request())) == "one two"
    assert "".join(client.stream(request())) == "three four"
    tgi.set_delays(between_tokens=0.05)
    left = client.stream(request())
    assert next(left) == "five"
    left.close()
    (gone,) = wait_until(lambda: tgi.disconnects, timeout=10)
    assert gone.sent < gone.total
    tgi.set_delays()
    assert "".join(client.stream(request("again"))) == "Echo: again"
    first, second, third, fourth = (sent.peer for sent in tgi.generation_requests())
    assert first and first == second  # kept alive
    assert third == second and fourth != third  # the stream left early took its connection with it


def test_tgi_default_reply_echoes_the_last_user_line(tgi: Any) -> None:
    text = "".join(TGIClient(tgi_spec(tgi.url), settings=settings()).stream(request("line one\nline two")))
    assert text == "Echo: line two"


def test_tgi_sends_the_grammar_and_the_answer_parses(tgi: Any) -> None:
    client = TGIClient(tgi_spec(tgi.url), settings=settings())
    text = "".join(client.stream(request("Text: Ada Lovelace met Charles Babbage.", json_schema=ENTITIES_SCHEMA)))
    answer = json.loads(text)
    jsonschema.validate(answer, ENTITIES_SCHEMA)
    assert [e["text"] for e in answer["entities"]] == ["Ada Lovelace", "Charles Babbage"]
    (sent,) = tgi.generation_requests()
    assert sent.body["parameters"]["grammar"] == {"type": "json", "value": ENTITIES_SCHEMA}


def test_a_scripted_bad_json_reply_comes_through_unchanged(tgi: Any) -> None:
    tgi.script('{"entities": [oops')
    client = TGIClient(tgi_spec(tgi.url), settings=settings())
    assert "".join(client.stream(request(json_schema=ENTITIES_SCHEMA))) == '{"entities": [oops'


def test_tgi_cuts_the_answer_at_a_stop_sequence(tgi: Any) -> None:
    tgi.script("Sure thing.\nUser: and another question")
    client = TGIClient(tgi_spec(tgi.url, prompt_format="falcon"), settings=settings())
    stream = client.stream(request())
    assert "".join(stream) == "Sure thing."
    assert stream.usage.finish_reason == "stop_sequence"
    assert "\nUser:" in tgi.generation_requests()[0].body["parameters"]["stop"]


def test_info_comes_from_the_server_and_follows_it(tgi: Any) -> None:
    tgi.set_limits(max_input_tokens=777, max_total_tokens=999)
    client = TGIClient(tgi_spec(tgi.url, max_input_tokens=10, max_total_tokens=20), settings=settings())
    first = client.info()
    assert first.max_input_tokens == 777
    tgi.set_limits(max_input_tokens=500)
    assert client.info().max_input_tokens == 777  # trusted for info_ttl_seconds: no GET per job
    assert [r.path for r in tgi.requests] == ["/info"]
    fresh = TGIClient(
        tgi_spec(tgi.url), settings=Settings(request_timeout=3.0, token_timeout=TOKEN_TIMEOUT, info_ttl_seconds=0)
    )
    assert fresh.info().max_input_tokens == 500  # past the TTL a restarted server's limits are seen


def test_info_falls_back_to_the_registry_without_info(tgi: Any) -> None:
    tgi.set_features(info=False)
    client = TGIClient(tgi_spec(tgi.url, max_input_tokens=300, max_total_tokens=400), settings=settings())
    assert client.info().max_input_tokens == 300
    dead = TGIClient(tgi_spec(dead_url(), max_input_tokens=50, max_total_tokens=90), settings=settings())
    assert dead.info().max_input_tokens == 50


def test_count_tokens_uses_the_server_tokenizer(tgi: Any) -> None:
    client = TGIClient(tgi_spec(tgi.url), settings=settings())
    assert client.count_tokens("Hello, world!") == 4  # ceil(13 / 3.5) would say 4 too: use a longer text
    text = "a, b, c, d, e, f"  # 11 tokens for the fake; the estimate says 5
    assert client.count_tokens(text) == 11
    assert client.count_tokens(text) == 11  # cached: no second request
    assert [r.body for r in tgi.requests if r.path == "/tokenize"] == [{"inputs": "Hello, world!"}, {"inputs": text}]


def test_count_tokens_estimates_without_a_tokenizer(tgi: Any) -> None:
    tgi.set_features(tokenizer=False)
    client = TGIClient(tgi_spec(tgi.url), settings=settings())
    assert client.count_tokens("a, b, c, d, e, f") == 5
    assert client.count_tokens("x" * 35) == 10
    assert len([r for r in tgi.requests if r.path == "/tokenize"]) == 1  # a 404 is not asked again


def test_health(tgi: Any) -> None:
    client = TGIClient(tgi_spec(tgi.url), settings=settings())
    assert client.healthy()
    tgi.set_healthy(False)
    assert not client.healthy()
    assert not TGIClient(tgi_spec(dead_url()), settings=settings()).healthy()


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("http_429", ModelOverloaded),
        ("overloaded_in_stream", ModelOverloaded),
        ("http_503", ModelUnavailable),
        ("stall", ModelStalled),
        ("close_mid_stream", ModelStalled),
        ("http_422", ModelRejected),
        ("http_424", ModelRejected),
        ("validation_in_stream", ModelRejected),
        ("generation_in_stream", ModelRejected),
    ],
)
def test_tgi_faults_map_to_the_core_errors(tgi: Any, fault: str, expected: type[ModelError]) -> None:
    tgi.fail_next(fault, after_tokens=2, stall_seconds=3 * TOKEN_TIMEOUT)
    client = TGIClient(tgi_spec(tgi.url), settings=settings())
    seen: list[str] = []
    with pytest.raises(expected):
        for delta in client.stream(request("one two three four five six")):
            seen.append(delta)
    if fault in ("stall", "close_mid_stream"):
        assert seen == ["Echo:", " one"]  # what came before the fault was streamed
    # The fault was for one call only: the next one succeeds.
    assert "".join(client.stream(request("again"))) == "Echo: again"


@pytest.mark.parametrize("route", ["tgi", "openai"])
def test_a_stall_behind_keepalive_comments_is_caught_by_the_token_timeout(tgi: Any, route: str) -> None:
    # Keep-alive comments every 0.1 s reset any socket read timeout; only the time since the
    # last token can see this stall (TGI sends them every 15 s, under the 20 s default).
    tgi.fail_next("stall_keepalive", after_tokens=2, stall_seconds=20.0, keepalive_seconds=0.1)
    if route == "tgi":
        client: TGIClient | OpenAICompatClient = TGIClient(tgi_spec(tgi.url), settings=settings())
    else:
        client = OpenAICompatClient(openai_spec(f"{tgi.url}/v1"), settings=settings())
    seen: list[str] = []
    started = time.monotonic()
    with pytest.raises(ModelStalled, match=r"no token for 0\.5 s"):
        for delta in client.stream(request("one two three four five six")):
            seen.append(delta)
            started = time.monotonic()  # the clock runs from the last token
    assert time.monotonic() - started < 2.0
    assert "".join(seen).startswith("Echo: one" if route == "tgi" else "Echo:")
    assert "".join(client.stream(request("again"))) == "Echo: again"  # the pool is still sound


def test_a_slow_consumer_is_not_a_stalled_server(tgi: Any) -> None:
    # The time the caller spends between two tokens (a chat platform's rate limit) is not
    # the server's: it must not count against the token timeout.
    tgi.script("one two three")
    client = TGIClient(tgi_spec(tgi.url), settings=settings())
    seen = []
    for delta in client.stream(request()):
        seen.append(delta)
        time.sleep(3 * TOKEN_TIMEOUT)
    assert "".join(seen) == "one two three"


@pytest.mark.parametrize("route", ["tgi", "openai"])
def test_a_422_shows_the_servers_own_reason(tgi: Any, route: str) -> None:
    from core.runner import chat_safe_reason

    if route == "tgi":
        client: TGIClient | OpenAICompatClient = TGIClient(tgi_spec(tgi.url), settings=settings())
    else:
        client = OpenAICompatClient(openai_spec(f"{tgi.url}/v1"), settings=settings())
    tgi.fail_next("http_422")
    with pytest.raises(ModelRejected) as err:
        list(client.stream(request()))
    assert chat_safe_reason(err.value) == "Input validation error: scripted fault"


def test_a_dead_server_is_unavailable() -> None:
    client = TGIClient(tgi_spec(dead_url()), settings=settings())
    with pytest.raises(ModelUnavailable):
        list(client.stream(request()))


def test_a_prompt_over_the_input_limit_is_rejected(tgi: Any) -> None:
    tgi.set_limits(max_input_tokens=5)
    with pytest.raises(ModelRejected, match="must have less than 5 tokens"):
        list(TGIClient(tgi_spec(tgi.url), settings=settings()).stream(request()))


def test_the_timeout_is_per_gap_not_per_answer(tgi: Any) -> None:
    # Eight tokens 0.3 s apart: 2.1 s in all, four times the 0.5 s token timeout.
    tgi.set_delays(first_token=0.3, between_tokens=0.3)
    tgi.script("one two three four five six seven eight")
    client = TGIClient(tgi_spec(tgi.url), settings=settings())
    started = time.monotonic()
    text = "".join(client.stream(request()))
    assert text == "one two three four five six seven eight"
    assert time.monotonic() - started > 4 * TOKEN_TIMEOUT


def test_one_client_serves_many_threads(tgi: Any) -> None:
    tgi.set_delays(between_tokens=0.02)
    client = TGIClient(tgi_spec(tgi.url), settings=settings())
    results: dict[int, str] = {}

    def run(i: int) -> None:
        results[i] = "".join(client.stream(request(f"thread {i}")))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {i: f"Echo: thread {i}" for i in range(24)}


# --- OpenAI-compatible (TGI's /v1/chat/completions) ----------------------------------------------


def test_openai_streams_deltas_in_order_with_usage(tgi: Any) -> None:
    tgi.script("alpha beta gamma")
    stream = OpenAICompatClient(openai_spec(f"{tgi.url}/v1"), settings=settings()).stream(request())
    assert list(stream) == ["alpha", " beta", " gamma"]
    assert stream.usage.finish_reason == "stop"
    assert stream.usage.generated_tokens == 4
    (sent,) = tgi.generation_requests()
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "test-model"
    assert sent.body["stream"] is True
    assert sent.body["max_tokens"] == 50
    assert sent.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello there"},
    ]


def test_openai_json_object_schema_form_is_accepted_by_tgi(tgi: Any) -> None:
    client = OpenAICompatClient(openai_spec(tgi.url, extra={"json_mode": "json_object_schema"}), settings=settings())
    text = "".join(client.stream(request("Text: Grace Hopper visited Paris.", json_schema=ENTITIES_SCHEMA)))
    answer = json.loads(text)
    jsonschema.validate(answer, ENTITIES_SCHEMA)
    assert [e["text"] for e in answer["entities"]] == ["Grace Hopper", "Paris"]
    fmt = tgi.generation_requests()[0].body["response_format"]
    assert fmt == {"type": "json_object", "schema": ENTITIES_SCHEMA, "value": ENTITIES_SCHEMA}


def test_openai_json_schema_form_is_sent_as_openai_defines_it(tgi: Any) -> None:
    # TGI (like the fake) can't read OpenAI's form: the 422 shows the request left unaltered.
    client = OpenAICompatClient(openai_spec(f"{tgi.url}/v1"), settings=settings())
    with pytest.raises(ModelRejected):
        list(client.stream(request(json_schema=ENTITIES_SCHEMA)))
    fmt = tgi.generation_requests()[0].body["response_format"]
    assert fmt == {"type": "json_schema", "json_schema": {"name": "answer", "schema": ENTITIES_SCHEMA}}


def test_openai_json_schema_form_streams_where_the_server_takes_it(tgi: Any) -> None:
    tgi.set_features(openai_json_schema=True)  # as OpenAI and Gemini do
    client = OpenAICompatClient(openai_spec(f"{tgi.url}/v1"), settings=settings())
    stream = client.stream(request("Text: Alan Turing.", json_schema=ENTITIES_SCHEMA))
    assert json.loads("".join(stream)) == {"entities": [{"text": "Alan Turing", "type": "person"}]}
    assert stream.usage.finish_reason == "stop"
    assert stream.usage.generated_tokens is not None


def test_a_stream_fault_fires_even_on_a_short_reply(tgi: Any) -> None:
    tgi.script("Short")
    tgi.fail_next("close_mid_stream", after_tokens=5)
    with pytest.raises(ModelStalled):
        list(TGIClient(tgi_spec(tgi.url), settings=settings()).stream(request()))


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("http_429", ModelOverloaded),
        ("overloaded_in_stream", ModelOverloaded),  # {"error": {"message": "Model is overloaded", ...}}
        ("http_503", ModelUnavailable),
        ("stall", ModelStalled),
        ("close_mid_stream", ModelStalled),
        ("validation_in_stream", ModelRejected),
    ],
)
def test_openai_faults_map_to_the_core_errors(tgi: Any, fault: str, expected: type[ModelError]) -> None:
    tgi.fail_next(fault, after_tokens=1, stall_seconds=3 * TOKEN_TIMEOUT)
    client = OpenAICompatClient(openai_spec(f"{tgi.url}/v1"), settings=settings())
    with pytest.raises(expected):
        list(client.stream(request("one two three")))
    with pytest.raises(ModelUnavailable):
        list(OpenAICompatClient(openai_spec(dead_url()), settings=settings()).stream(request()))


def test_openai_counts_with_the_server_tokenizer_and_checks_health(tgi: Any) -> None:
    client = OpenAICompatClient(openai_spec(f"{tgi.url}/v1"), settings=settings())
    assert client.count_tokens("a, b, c, d, e, f") == 11  # TGI's /tokenize, found by probing
    assert client.info().max_input_tokens == 900  # no /info on an OpenAI server: the registry's
    assert client.healthy()
    assert [r.path for r in tgi.requests] == ["/tokenize", "/v1/models"]
    assert not OpenAICompatClient(openai_spec(dead_url()), settings=settings()).healthy()


def test_openai_without_a_tokenizer_estimates_and_stops_asking(tgi: Any) -> None:
    tgi.set_features(tokenizer=False)  # /tokenize 404; /extras/tokenize/count is not a route: 404
    client = OpenAICompatClient(openai_spec(f"{tgi.url}/v1"), settings=settings())
    assert client.count_tokens("a, b, c, d, e, f") == 5  # ceil(16 / 3.5)
    assert client.count_tokens("x" * 35) == 10
    assert [r.path for r in tgi.requests] == ["/tokenize"]  # the 404 of the aiohttp route is not recorded


# --- the directory ------------------------------------------------------------------------------


def test_directory_caches_clients_and_checks_reachability(tgi: Any) -> None:
    models = {
        "tgi": tgi_spec(tgi.url, description="the fake"),
        "chat": openai_spec(f"{tgi.url}/v1"),
        "offline": tgi_spec(dead_url()),
    }
    models = {name: ModelSpec(**{**spec.__dict__, "name": name}) for name, spec in models.items()}
    directory = ModelClients(Registry(models=models, default="tgi", jobs={"code": "chat"}), settings=settings())
    assert directory.names() == ["tgi", "chat", "offline"]
    assert directory.default_for("code") == "chat"
    assert directory.default_for("chat") == "tgi"
    assert directory.client("tgi") is directory.client("tgi")
    assert isinstance(directory.client("chat"), OpenAICompatClient)
    assert directory.describe("tgi") == "the fake"
    assert directory.reachability() == {"tgi": True, "chat": True, "offline": False}
    with pytest.raises(KeyError):
        directory.client("nope")
