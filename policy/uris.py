"""What an API Gateway integration URI points at: a Lambda function URL, a Lambda invocation, or something else.

Formats from the API Gateway developer guide (integration `uri`; Lambda proxy integrations and response streaming):
`arn:<partition>:apigateway:<region>:lambda:path/<api version>/functions/<function arn>/<action>`, where the
buffered invocation is `2015-03-31/…/invocations` and the streaming one `2021-11-15/…/response-streaming-invocations`;
and Lambda's function URLs, `https://<url id>.lambda-url.<region>.on.aws/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.aws_rules import LAMBDA_URI
from infra.modes import STREAM

FUNCTION_URL = re.compile(r"^https://[a-z0-9]+\.lambda-url\.[a-z0-9-]+\.on\.aws(?:/|$)")
STREAMING_VERSION = STREAM.lambda_invocation_path.split("/")[0]
STREAMING_ACTION = STREAM.lambda_invocation_path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class LambdaInvocation:
    version: str
    action: str

    @property
    def streaming(self) -> bool:
        return (self.version, self.action) == (STREAMING_VERSION, STREAMING_ACTION)

    def __str__(self) -> str:
        return f"{self.version}/functions/…/{self.action}"


def lambda_invocation(uri: str) -> LambdaInvocation | None:
    match = LAMBDA_URI.match(uri)
    return LambdaInvocation(match["version"], match["action"]) if match else None


def is_function_url(uri: str) -> bool:
    return bool(FUNCTION_URL.match(uri))
