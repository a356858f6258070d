"""Ready-to-paste commands for the stack outputs."""

from __future__ import annotations

import pulumi

PROMPT_BODY = '{"prompt":"Tell me a story"}'


def curl_command(invoke_url: pulumi.Output[str], api_key_id: pulumi.Output[str] | None) -> pulumi.Output[str]:
    """A curl that shows the stream arriving (-N: no client buffering); fetches the API key if one is needed."""

    def render(url: str, key_id: str | None) -> str:
        key = (
            f' -H "x-api-key: $(aws apigateway get-api-key --api-key {key_id} --include-value'
            ' --query value --output text)"'
            if key_id
            else ""
        )
        return f"curl -N -X POST {url} -H 'Content-Type: application/json'{key} -d '{PROMPT_BODY}'"

    return pulumi.Output.all(invoke_url, api_key_id).apply(lambda values: render(*values))
