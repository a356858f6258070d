"""Fakes of the AWS APIs streamgate calls, speaking the real wire formats on 127.0.0.1.

Point real boto3 at them (`fake.client()`, or `fake.env` for a child process) and script each answer.
See `agentcore` and `bedrock` for the scenarios, and `http.FakeServer` for what gets recorded.
"""

from tests.fakes.agentcore import FakeAgentCore
from tests.fakes.bedrock import FakeBedrockRuntime
from tests.fakes.http import Abort, Chunk, Exchange, Pause, Repeat, Reply, Request, Until, lockstep

__all__ = [
    "Abort",
    "Chunk",
    "Exchange",
    "FakeAgentCore",
    "FakeBedrockRuntime",
    "Pause",
    "Repeat",
    "Reply",
    "Request",
    "Until",
    "lockstep",
]
