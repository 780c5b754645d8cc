"""Model-server clients, the parts that need no server: error mapping, stop trimming,
request building, and the fake TGI server's deterministic content."""

from __future__ import annotations

import json
import random

import httpx2
import jsonschema
import pytest
from huggingface_hub.errors import (
    GenerationError,
    HfHubHTTPError,
    IncompleteGenerationError,
    InferenceTimeoutError,
    OverloadedError,
    UnknownError,
    ValidationError,
)
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError, ReadTimeoutError, SSLError

from core.entities import ENTITIES_SCHEMA
from core.errors import ModelOverloaded, ModelRejected, ModelStalled, ModelUnavailable
from core.models import Flavour, ModelSpec
from core.ports import ChatTurn, GenerationRequest
from core.prompts import stop_sequences
from core.settings import Settings
from fakes import tgi_content
from worker.llm.common import StopTrimmer, estimate_tokens, stream_timeout
from worker.llm.errors import from_status, to_model_error
from worker.llm.openai_compat import OpenAICompatClient, chat_base, response_format
from worker.llm.tgi import TGIClient

URL = "http://127.0.0.1:9/generate_stream"


def _http_error(status: int) -> HfHubHTTPError:
    request = httpx2.Request("POST", URL)
    return HfHubHTTPError(f"{status} error", response=httpx2.Response(status, request=request))


def _typed(error: Exception, status: int) -> Exception:
    """What huggingface_hub raises for a TGI error body: the typed error, caused by the HTTP one."""
    error.__cause__ = _http_error(status)
    return error


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_http_error(429), ModelOverloaded),
        (_http_error(503), ModelUnavailable),
        (_http_error(502), ModelUnavailable),
        (_http_error(422), ModelRejected),
        (_http_error(424), ModelRejected),
        (_http_error(400), ModelRejected),
        (_http_error(401), ModelRejected),
        (_typed(OverloadedError("Model is overloaded"), 429), ModelOverloaded),
        (_typed(UnknownError("unhealthy"), 503), ModelUnavailable),
        (_typed(ValidationError("Input validation error"), 422), ModelRejected),
        # In-stream events (HTTP 200): the error type decides.
        (OverloadedError("Model is overloaded"), ModelOverloaded),
        (ValidationError("Input validation error: `inputs` must have less than 3 tokens"), ModelRejected),
        (GenerationError("Request failed during generation"), ModelRejected),
        (IncompleteGenerationError("Incomplete generation"), ModelStalled),
        (UnknownError("Incomplete generation stream"), ModelStalled),
        # TGI's OpenAI route sends every error as {"message", "http_status_code": 422}.
        (UnknownError(str({"message": "Model is overloaded", "http_status_code": 422})), ModelOverloaded),
        (UnknownError(str({"message": "Input validation error", "http_status_code": 422})), ModelRejected),
        (httpx2.ConnectError("[Errno 111] Connection refused"), ModelUnavailable),
        (httpx2.ConnectTimeout("timed out"), ModelUnavailable),
        (httpx2.ReadTimeout("timed out"), ModelStalled),
        (httpx2.RemoteProtocolError("peer closed connection (incomplete chunked read)"), ModelStalled),
        (ConnectionRefusedError(111, "refused"), ModelUnavailable),
        # TGI's token stream on urllib3 (worker/llm/streams.py).
        (NewConnectionError(None, "[Errno 111] Connection refused"), ModelUnavailable),  # type: ignore[arg-type]
        (ConnectTimeoutError("timed out"), ModelUnavailable),
        (ReadTimeoutError(None, URL, "read timed out"), ModelStalled),  # type: ignore[arg-type]
        (ProtocolError("Response ended prematurely"), ModelStalled),
        (SSLError("certificate verify failed"), ModelUnavailable),
    ],
)
def test_errors_map_to_the_core_tree(exc: Exception, expected: type) -> None:
    mapped = to_model_error(exc)
    assert type(mapped) is expected


def test_llama_cpp_validation_500_is_a_rejection() -> None:
    body = "HTTP 500: 1 validation error: response_format.type Input should be 'text' or 'json_object'"
    assert type(from_status(500, body)) is ModelRejected
    assert type(from_status(500, "Internal Server Error")) is ModelUnavailable


def test_an_inference_timeout_is_judged_by_its_cause() -> None:
    read = InferenceTimeoutError("timed out")
    read.__cause__ = httpx2.ReadTimeout("read")
    connect = InferenceTimeoutError("timed out")
    connect.__cause__ = httpx2.ConnectTimeout("connect")
    assert type(to_model_error(read)) is ModelStalled
    assert type(to_model_error(connect)) is ModelUnavailable


def test_our_own_bugs_are_not_model_errors() -> None:
    assert to_model_error(KeyError("x")) is None
    assert to_model_error(TypeError("x")) is None


@pytest.mark.parametrize(
    "body",
    [
        {"error": "Input validation error: `inputs` must have less than 5 tokens", "error_type": "validation"},
        {"error": {"message": "Input validation error: `inputs` must have less than 5 tokens", "code": 422}},
    ],
    ids=["tgi", "openai"],
)
def test_a_422_says_the_servers_reason_first(body: dict[str, object]) -> None:
    from core.runner import chat_safe_reason

    response = httpx2.Response(422, json=body, request=httpx2.Request("POST", URL))
    error = to_model_error(HfHubHTTPError("422 Client Error: Unprocessable Entity for url", response=response))
    assert isinstance(error, ModelRejected)
    assert chat_safe_reason(error) == "Input validation error: `inputs` must have less than 5 tokens"
    assert "HTTP 422" in str(error)  # the logs still say where and what status


def test_retryable_flags_follow_the_mapping() -> None:
    assert to_model_error(_http_error(429)).retryable  # type: ignore[union-attr]
    assert to_model_error(httpx2.ReadTimeout("x")).retryable  # type: ignore[union-attr]
    assert not to_model_error(_http_error(422)).retryable  # type: ignore[union-attr]


def test_the_read_timeout_is_only_the_backstop_of_the_first_token() -> None:
    # Keep-alive bytes reset a socket read timeout, so the gap between tokens is the token
    # watch's (worker/llm/watch.py); the read timeout bounds the headers and first token.
    timeout = stream_timeout(request_timeout=30.0, token_timeout=2.5)
    assert timeout.read == 30.0
    assert timeout.connect == 30.0
    assert stream_timeout(request_timeout=5.0, token_timeout=20.0).read == 20.0


def test_estimate_is_documented_chars_over_three_and_a_half() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcdefg") == 2
    assert estimate_tokens("x" * 8) == 3


def test_stop_trimmer_holds_back_a_possible_stop_and_cuts_at_a_whole_one() -> None:
    trimmer = StopTrimmer(("\nUser:",))
    shown = [trimmer.feed(d) for d in ["Hi", " there", "\nUs", "er:", " more"]]
    assert shown == ["Hi", " there", "", "", ""]
    assert trimmer.stopped
    assert trimmer.flush() == ""


def test_stop_trimmer_releases_held_text_that_was_no_stop() -> None:
    trimmer = StopTrimmer(("<|im_end|>",))
    assert trimmer.feed("a <|im") == "a "
    assert trimmer.feed("age|>") == "<|image|>"
    assert trimmer.feed(" b <") == " b "
    assert trimmer.flush() == "<"


def test_stop_trimmer_holds_exactly_the_longest_suffix_that_may_begin_a_stop() -> None:
    """Against the definition, over many random token streams: what is shown at each step is
    the text so far minus its longest suffix that is a proper prefix of a stop."""
    rng = random.Random(7)
    stops = ("\nUser:", "<|im_end|>", "aab", "</s>")
    alphabet = "aUbs<>|/\n:er_imnd "
    for _ in range(2000):
        trimmer, text, shown = StopTrimmer(stops), "", ""
        for _ in range(rng.randint(1, 12)):
            delta = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
            text += delta
            shown += trimmer.feed(delta)
            if trimmer.stopped:
                cut = min(i for i in (text.find(stop) for stop in stops) if i >= 0)
                assert shown == text[:cut]
                break
            held = max((n for stop in stops for n in range(1, len(stop)) if text.endswith(stop[:n])), default=0)
            assert shown == text[: len(text) - held], (text, stops)
        else:
            assert shown + trimmer.flush() == text


def _settings() -> Settings:
    return Settings(request_timeout=3.0, token_timeout=1.0, worker_concurrency=16)


def _request(**kwargs: object) -> GenerationRequest:
    messages = (ChatTurn(role="system", content="Be brief."), ChatTurn(role="user", content="Hello"))
    return GenerationRequest(messages=messages, max_new_tokens=64, **kwargs)  # type: ignore[arg-type]


def test_tgi_parameters_carry_details_grammar_and_the_format_stops() -> None:
    spec = ModelSpec(name="m", flavour=Flavour.TGI, url="http://127.0.0.1:9", prompt_format="chatml")
    assert spec.stop == stop_sequences("chatml")  # the preset owns its format's turn markers
    client = TGIClient(spec, settings=_settings())
    params = client._parameters(_request(json_schema=ENTITIES_SCHEMA, temperature=0.0))
    assert params["details"] is True
    assert params["grammar"] == {"type": "json", "value": ENTITIES_SCHEMA}
    assert params["stop"] == ["<|im_end|>", "<|im_start|>"]
    assert params["max_new_tokens"] == 64
    assert params["temperature"] is None  # TGI rejects 0: greedy is "no temperature"
    assert "grammar" not in client._parameters(_request())


def test_tgi_render_uses_the_registry_prompt_format() -> None:
    spec = ModelSpec(name="m", flavour=Flavour.TGI, url="http://127.0.0.1:9", prompt_format="llama-2")
    prompt = TGIClient(spec, settings=_settings()).render(_request().messages)
    assert prompt == "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello [/INST]"


def test_openai_base_url_and_response_format_forms() -> None:
    assert chat_base("http://127.0.0.1:8089") == "http://127.0.0.1:8089/v1"
    assert chat_base("http://127.0.0.1:8089/v1/") == "http://127.0.0.1:8089/v1"
    gemini = "https://generativelanguage.googleapis.com/v1beta/openai"
    assert chat_base(gemini) == gemini
    schema = {"type": "object"}
    # llama-cpp-python reads "schema"; TGI's GrammarType reads "value" (json_object is its alias of json).
    assert response_format(schema, "json_object_schema") == {"type": "json_object", "schema": schema, "value": schema}
    assert response_format(schema, "json_schema") == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema},
    }


def test_openai_json_mode_is_validated() -> None:
    spec = ModelSpec(name="m", flavour=Flavour.OPENAI, url="http://x/v1", extra={"json_mode": "grammar"})
    with pytest.raises(ValueError, match="json_mode"):
        OpenAICompatClient(spec, settings=_settings())


# --- the fake server's content is deterministic (tests elsewhere rely on it) -------------


def test_fake_tokenizer_splits_words_and_punctuation() -> None:
    spans = tgi_content.token_spans("Hello, world!")
    assert [s["text"] for s in spans] == ["Hello", ",", "world", "!"]
    assert spans[2]["start"] == 7 and spans[2]["stop"] == 12
    assert "".join(tgi_content.pieces("Echo: a  b\n")) == "Echo: a  b\n"


def test_fake_finds_the_last_user_turn_in_each_format() -> None:
    assert tgi_content.last_user_text("<|im_start|>user\nhi\nthere<|im_end|>\n<|im_start|>assistant\n") == "hi\nthere"
    assert tgi_content.last_user_text("[INST] <<SYS>>\nS\n<</SYS>>\n\nquestion [/INST]") == "question"
    assert tgi_content.last_user_text("User: a\nAssistant: b\nUser: c\nAssistant:") == "c"
    assert tgi_content.default_reply("first\nsecond line") == "Echo: second line"


def test_fake_schema_reply_validates_and_names_the_entities() -> None:
    text = "List the named entities below as JSON.\n\nText: Ada Lovelace wrote to Charles Babbage in London."
    reply = json.loads(tgi_content.schema_reply(ENTITIES_SCHEMA, text))
    jsonschema.validate(reply, ENTITIES_SCHEMA)
    assert {e["text"]: e["type"] for e in reply["entities"]} == {
        "Ada Lovelace": "person",
        "Charles Babbage": "person",
        "London": "other",
    }
