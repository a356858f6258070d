"""The fakes speak the real wire formats: real boto3 clients talk to them as they would to AWS.

This is also the reference for using them: each test scripts a scenario, calls the fake with boto3
and shows what the client sees and what the fake records.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator

import boto3
import httpx
import pytest
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError, ReadTimeoutError, ResponseStreamingError
from urllib3.exceptions import ProtocolError

from tests.fakes import (
    Abort,
    Chunk,
    Exchange,
    FakeAgentCore,
    FakeBedrockRuntime,
    Pause,
    Reply,
    agentcore,
    bedrock,
    eventstream,
)

ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/my_agent-AbC123"
SESSION = "s" * 33
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "hi"}]}]
# Streaming is proven by each item arriving before the fake sends the next; this bound only catches a reader
# that sat on the last item (nothing follows it), with room for a loaded CI machine (0.13 s seen at load 5).
PROMPT = 1.0
# Gap between scripted events: long enough that "arrived before the next was sent" proves streaming.
GAP = 0.1


@pytest.fixture
def agent() -> Iterator[FakeAgentCore]:
    with FakeAgentCore() as fake:
        yield fake
    assert fake.errors == []


@pytest.fixture
def model() -> Iterator[FakeBedrockRuntime]:
    with FakeBedrockRuntime() as fake:
        yield fake
    assert fake.errors == []


def invoke(fake: FakeAgentCore, **kwargs: object) -> dict:
    params = {"agentRuntimeArn": ARN, "runtimeSessionId": SESSION, "payload": b'{"prompt": "hi"}', **kwargs}
    return fake.client().invoke_agent_runtime(**params)


def read_chunks(answer: dict) -> list[tuple[float, bytes]]:
    """Read the streaming body the way a relay does: whatever has arrived, as soon as it arrives."""
    raw = answer["response"]._raw_stream
    received = []
    while data := raw.read1(65536):
        received.append((time.perf_counter(), data))
    return received


def read_or_error(raw: object) -> bytes | Exception:
    try:
        return raw.read1(65536)  # type: ignore[attr-defined]
    except Exception as error:
        return error


def assert_streamed(received_at: list[float], exchange: Exchange) -> None:
    """Each item reached the client promptly, and before the fake had even sent the next one."""
    assert exchange.done.wait(1)
    sent_at = [sent for sent, _ in exchange.sent_at]
    assert len(received_at) == len(sent_at)
    for i, (received, sent) in enumerate(zip(received_at, sent_at, strict=True)):
        # The reader may even get there before the fake has noted the time of sending.
        assert received - sent < PROMPT, f"item {i} took {received - sent:.3f}s"
        if i + 1 < len(sent_at):
            assert received < sent_at[i + 1], f"item {i} was held back until item {i + 1} was sent"


# -- AgentCore InvokeAgentRuntime ------------------------------------------------------------------


class TestAgentCoreStreaming:
    def test_each_sse_event_reaches_the_client_as_soon_as_it_is_sent(self, agent: FakeAgentCore):
        events = [agentcore.sse_event({"text": word}) for word in ["Hello", " wor", "ld"]]
        agent.respond_with(agentcore.sse(events, delay=GAP))

        received = read_chunks(invoke(agent))

        assert [data for _, data in received] == events
        assert_streamed([t for t, _ in received], agent.last)
        assert agent.last.outcome == "completed"

    def test_answer_carries_content_type_and_the_echoed_session_id(self, agent: FakeAgentCore):
        agent.respond_with(agentcore.sse([b"data: hi\n\n"]))

        answer = invoke(agent)

        assert answer["contentType"] == "text/event-stream"
        assert answer["runtimeSessionId"] == SESSION
        assert answer["statusCode"] == 200
        assert answer["response"].read() == b"data: hi\n\n"

    def test_request_is_recorded_with_decoded_arn_session_header_and_payload(self, agent: FakeAgentCore):
        agent.respond_with(agentcore.sse([b"data: hi\n\n"]))

        invoke(agent, qualifier="DEFAULT", payload=b'{"prompt": "why?"}').get("response").read()

        request = agent.last.request
        assert request.method == "POST"
        assert request.params == {"agentRuntimeArn": ARN}
        assert request.query == {"qualifier": ["DEFAULT"]}
        assert request.headers["x-amzn-bedrock-agentcore-runtime-session-id"] == SESSION
        assert request.body == b'{"prompt": "why?"}'

    def test_json_answer_is_a_single_body(self, agent: FakeAgentCore):
        agent.respond_with(agentcore.json_answer({"result": "done"}))

        answer = invoke(agent)

        assert answer["contentType"] == "application/json"
        assert json.loads(answer["response"].read()) == {"result": "done"}
        assert agent.last.done.wait(1)
        assert agent.last.chunks == [b'{"result": "done"}']

    def test_queued_replies_are_used_once_each_before_the_default(self, agent: FakeAgentCore):
        agent.respond_with(agentcore.json_answer({"n": "default"}))
        agent.queue(agentcore.json_answer({"n": 1}), agentcore.json_answer({"n": 2}))

        bodies = [json.loads(invoke(agent)["response"].read())["n"] for _ in range(3)]

        assert bodies == [1, 2, "default"]
        assert len(agent.requests) == 3


class TestAgentCoreErrors:
    @pytest.mark.parametrize(
        ("code", "status"),
        [
            ("ValidationException", 400),
            ("ServiceQuotaExceededException", 402),
            ("AccessDeniedException", 403),
            ("ResourceNotFoundException", 404),
            ("RetryableConflictException", 409),
            ("RuntimeClientError", 424),
            ("ThrottlingException", 429),
            ("InternalServerException", 500),
        ],
    )
    def test_error_before_the_stream_raises_client_error_with_the_models_status(
        self, agent: FakeAgentCore, code: str, status: int
    ):
        agent.respond_with(agentcore.error(code, "nope"))

        with pytest.raises(ClientError) as caught:
            invoke(agent)

        assert caught.value.response["Error"] == {"Code": code, "Message": "nope"}
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        assert len(agent.requests) == 1  # the client was built without retries

    def test_abort_mid_stream_fails_the_raw_read_with_urllib3_protocol_error(self, agent: FakeAgentCore):
        agent.respond_with(agentcore.sse([b"data: a\n\n", b"data: b\n\n"], delay=0.01, abort=True))
        raw = invoke(agent)["response"]._raw_stream
        received = b""

        with pytest.raises(ProtocolError, match="IncompleteRead"):  # noqa: PT012 - reads until it fails
            while True:
                received += raw.read1(65536)

        assert received == b"data: a\n\ndata: b\n\n"
        assert agent.last.done.wait(1)
        assert agent.last.outcome == "aborted"

    def test_abort_mid_stream_fails_body_reads_with_response_streaming_error(self, agent: FakeAgentCore):
        agent.respond_with(agentcore.sse([b"data: a\n\n"], abort=True))

        with pytest.raises(ResponseStreamingError):
            list(invoke(agent)["response"].iter_chunks())

    def test_reset_mid_stream_surfaces_as_a_connection_reset(self, agent: FakeAgentCore):
        agent.respond_with(agentcore.sse([b"data: a\n\n", Abort(reset=True)]))
        raw = invoke(agent)["response"]._raw_stream

        assert raw.read1(65536) == b"data: a\n\n"
        with pytest.raises(ProtocolError) as caught:
            raw.read1(65536)
        assert isinstance(caught.value.args[1], ConnectionResetError)


class TestAgentCoreDisconnects:
    def test_client_hanging_up_during_a_silence_is_noticed_at_once(self, agent: FakeAgentCore):
        agent.respond_with(agentcore.sse([b"data: a\n\n", Pause(5), b"data: never\n\n"]))
        raw = invoke(agent)["response"]._raw_stream
        assert raw.read1(65536) == b"data: a\n\n"

        hung_up_at = time.perf_counter()
        raw.shutdown()
        raw.close()

        assert agent.disconnected.wait(1)
        assert agent.disconnected_at - hung_up_at < 0.2
        exchange = agent.last
        assert exchange.done.wait(1)
        assert exchange.outcome == "disconnected"
        assert exchange.chunks == [b"data: a\n\n"]

    def test_client_hanging_up_during_a_fast_stream_is_noticed_at_once(self, agent: FakeAgentCore):
        agent.respond_with(agentcore.large_stream(256 * 1024 * 1024))
        raw = invoke(agent)["response"]._raw_stream
        raw.read1(65536)

        hung_up_at = time.perf_counter()
        raw.shutdown()
        raw.close()

        assert agent.disconnected.wait(1)
        assert agent.disconnected_at - hung_up_at < 0.2
        assert len(agent.sent_at) < 4096

    def test_hanging_up_under_a_reader_blocked_in_another_thread_needs_shutdown(self, agent: FakeAgentCore):
        agent.respond_with(agentcore.sse([b"data: a\n\n", Pause(5), b"data: never\n\n"]))
        raw = invoke(agent)["response"]._raw_stream
        raw.read1(65536)
        outcome: list[object] = []
        reader = threading.Thread(target=lambda: outcome.append(read_or_error(raw)))
        reader.start()
        time.sleep(0.05)

        raw.shutdown()  # close() alone would leave the reader (and the connection) hanging
        raw.close()

        reader.join(1)
        assert not reader.is_alive()
        # urllib3 gives the woken reader an arbitrary error (AttributeError today), not a clean EOF.
        assert isinstance(outcome[0], Exception)
        assert agent.disconnected.wait(1)

    def test_a_completed_answer_is_not_a_disconnect(self, agent: FakeAgentCore):
        agent.respond_with(agentcore.sse([b"data: a\n\n"]))

        invoke(agent)["response"].read()

        assert agent.last.done.wait(1)
        assert agent.last.outcome == "completed"
        assert not agent.disconnected.is_set()


class TestAgentCoreLargeStream:
    def test_large_stream_sends_exactly_n_bytes_in_sse_sized_chunks(self, agent: FakeAgentCore):
        total, chunk = 32 * 1024 * 1024, 64 * 1024
        agent.respond_with(agentcore.large_stream(total, chunk))

        body = invoke(agent)["response"]
        received = sum(len(data) for data in body.iter_chunks(1024 * 1024))

        assert received == total
        assert len(agent.sent_at) == total // chunk
        first = agent.sent_at[0][1]
        assert len(first) == chunk
        assert first.startswith(b"data: xxx")
        assert first.endswith(b"\n\n")

    def test_large_stream_needs_whole_chunks(self):
        with pytest.raises(ValueError, match="multiple"):
            agentcore.large_stream(1000, 64)


class TestPointingClientsAtTheFakes:
    def test_env_points_boto3_at_the_fake(self, agent: FakeAgentCore, monkeypatch: pytest.MonkeyPatch):
        for name, value in agent.env.items():
            monkeypatch.setenv(name, value)
        agent.respond_with(agentcore.json_answer({"ok": True}))

        client = boto3.client("bedrock-agentcore")
        answer = client.invoke_agent_runtime(agentRuntimeArn=ARN, runtimeSessionId=SESSION, payload=b"{}")

        assert json.loads(answer["response"].read()) == {"ok": True}
        assert agent.env["AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"] == agent.url

    def test_requests_to_other_operations_get_a_404_and_are_not_scripted(self, model: FakeBedrockRuntime):
        model.respond_with(bedrock.converse(["a"]))

        answer = httpx.post(f"{model.url}/model/{MODEL}/converse", json={})

        assert answer.status_code == 404
        assert answer.headers["x-amzn-ErrorType"] == "UnknownOperationException"


# -- Bedrock Runtime ConverseStream ----------------------------------------------------------------


def converse(fake: FakeBedrockRuntime) -> dict:
    return fake.client().converse_stream(modelId=MODEL, messages=MESSAGES)


class TestConverseStream:
    def test_events_parse_into_the_documented_shapes(self, model: FakeBedrockRuntime):
        model.respond_with(bedrock.converse(["Hel", "lo"], stop_reason="max_tokens", input_tokens=7))

        events = list(converse(model)["stream"])

        assert events == [
            {"messageStart": {"role": "assistant"}},
            {"contentBlockDelta": {"delta": {"text": "Hel"}, "contentBlockIndex": 0}},
            {"contentBlockDelta": {"delta": {"text": "lo"}, "contentBlockIndex": 0}},
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"messageStop": {"stopReason": "max_tokens"}},
            {
                "metadata": {
                    "usage": {"inputTokens": 7, "outputTokens": 2, "totalTokens": 9},
                    "metrics": {"latencyMs": 100},
                }
            },
        ]

    def test_each_event_is_yielded_as_soon_as_its_frame_arrives(self, model: FakeBedrockRuntime):
        model.respond_with(bedrock.converse(["a", "b", "c"], delay=GAP))

        received_at = [time.perf_counter() for _ in converse(model)["stream"]]

        assert_streamed(received_at, model.last)

    def test_each_event_is_one_http_chunk_holding_one_frame(self, model: FakeBedrockRuntime):
        model.respond_with(bedrock.converse(["a"]))

        answer = converse(model)
        list(answer["stream"])

        headers = answer["ResponseMetadata"]["HTTPHeaders"]
        assert headers["content-type"] == "application/vnd.amazon.eventstream"
        for chunk in model.last.chunks:
            buffer = EventStreamBuffer()
            buffer.add_data(chunk)
            assert len(list(buffer)) == 1

    def test_request_is_recorded_with_the_decoded_model_id(self, model: FakeBedrockRuntime):
        model.respond_with(bedrock.converse(["a"]))

        list(converse(model)["stream"])

        request = model.last.request
        assert request.params == {"modelId": MODEL}
        assert json.loads(request.body)["messages"] == MESSAGES


class TestConverseStreamErrors:
    @pytest.mark.parametrize(
        "code",
        [
            "modelStreamErrorException",
            "throttlingException",
            "validationException",
            "internalServerException",
        ],
    )
    def test_exception_event_raises_event_stream_error_after_the_earlier_events(
        self, model: FakeBedrockRuntime, code: str
    ):
        model.respond_with(bedrock.converse(["Hel"], exception=(code, "it broke")))
        stream = iter(converse(model)["stream"])

        assert next(stream) == {"messageStart": {"role": "assistant"}}
        assert next(stream)["contentBlockDelta"]["delta"] == {"text": "Hel"}
        with pytest.raises(EventStreamError) as caught:
            next(stream)

        assert caught.value.response["Error"] == {"Code": code, "Message": "it broke"}
        assert isinstance(caught.value, ClientError)

    @pytest.mark.parametrize(
        ("code", "status"),
        [
            ("ValidationException", 400),
            ("AccessDeniedException", 403),
            ("ResourceNotFoundException", 404),
            ("ModelTimeoutException", 408),
            ("ModelErrorException", 424),
            ("ThrottlingException", 429),
            ("ServiceUnavailableException", 503),
        ],
    )
    def test_error_before_stream_is_a_client_error(self, model: FakeBedrockRuntime, code: str, status: int):
        model.respond_with(bedrock.error(code, "nope"))

        with pytest.raises(ClientError) as caught:
            converse(model)

        assert caught.value.response["Error"] == {"Code": code, "Message": "nope"}
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status

    def test_abort_mid_stream_raises_urllib3_protocol_error_unwrapped(self, model: FakeBedrockRuntime):
        model.respond_with(bedrock.converse(["Hel"], abort=True))
        stream = iter(converse(model)["stream"])

        assert next(stream) == {"messageStart": {"role": "assistant"}}
        assert "contentBlockDelta" in next(stream)
        with pytest.raises(ProtocolError, match="ended prematurely"):
            next(stream)

    def test_client_closing_the_stream_during_a_silence_is_noticed_at_once(self, model: FakeBedrockRuntime):
        model.respond_with(bedrock.converse(["Hel", Pause(5), "lo"]))
        answer = converse(model)
        stream = iter(answer["stream"])
        next(stream)
        next(stream)

        hung_up_at = time.perf_counter()
        answer["stream"]._raw_stream.shutdown()
        answer["stream"].close()

        assert model.disconnected.wait(1)
        assert model.disconnected_at - hung_up_at < 0.2
        assert model.last.outcome == "disconnected"


# -- The building blocks -----------------------------------------------------------------------------


class TestEventStreamEncoding:
    def test_messages_round_trip_through_botocores_parser_with_valid_crcs(self):
        frame = eventstream.event("contentBlockDelta", {"delta": {"text": "é"}, "contentBlockIndex": 0})
        buffer = EventStreamBuffer()
        buffer.add_data(frame + eventstream.exception("throttlingException", "slow down"))

        event, exception = list(buffer)

        assert event.headers == {
            ":event-type": "contentBlockDelta",
            ":content-type": "application/json",
            ":message-type": "event",
        }
        assert json.loads(event.payload) == {"delta": {"text": "é"}, "contentBlockIndex": 0}
        assert exception.headers[":exception-type"] == "throttlingException"
        assert exception.to_response_dict()["status_code"] == 400


class TestScripting:
    def test_reply_delay_holds_back_the_response_headers(self, agent: FakeAgentCore):
        agent.respond_with(
            Reply(headers=(("Content-Type", "text/event-stream"),), steps=(Chunk(b"data: a\n\n"),), delay=0.2)
        )

        started = time.perf_counter()
        invoke(agent)["response"].read()

        assert time.perf_counter() - started >= 0.2
        exchange = agent.last
        assert exchange.headers_sent_at is not None
        assert exchange.headers_sent_at - started >= 0.2

    def test_every_attempt_of_a_retrying_client_is_counted(self, agent: FakeAgentCore):
        """botocore's standard retry mode sends a call up to 3 times on a 5xx: the fake sees each one."""
        agent.respond_with(agentcore.error("InternalServerException"))
        retrying = agent.client(retries={"mode": "standard", "total_max_attempts": 3})
        with pytest.raises(ClientError):
            retrying.invoke_agent_runtime(agentRuntimeArn=ARN, runtimeSessionId="s" * 33, payload=b"{}")
        assert agent.calls == 3

    def test_a_stall_before_the_headers_is_a_read_timeout_and_each_retry_stalls_again(self, agent: FakeAgentCore):
        agent.respond_with(dataclasses.replace(agentcore.sse([agentcore.sse_event({"n": 1})]), delay=1.0))
        retrying = agent.client(read_timeout=0.1, retries={"mode": "standard", "total_max_attempts": 2})
        with pytest.raises(ReadTimeoutError):
            retrying.invoke_agent_runtime(agentRuntimeArn=ARN, runtimeSessionId="s" * 33, payload=b"{}")
        assert agent.calls == 2

    def test_stopping_the_fake_ends_a_reply_that_is_still_playing(self):
        with FakeAgentCore() as fake:
            fake.respond_with(agentcore.sse([Pause(30)]))
            answer = invoke(fake)
        assert fake.last.outcome == "stopped"
        answer["response"].close()
