"""A function URL with auth NONE is public: it is only acceptable behind an API Gateway integration that adds the
origin-secret header the app checks, so a caller cannot go around the API (its keys, throttling and WAF).
API Gateway cannot SigV4-sign an HTTP integration, which is why the URL is NONE at all (README, Lessons)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource

from infra.modes import ORIGIN_VERIFY_HEADER
from policy.integrations import INTEGRATION
from policy.kinds import stack_policy
from policy.links import of_type, targets

FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
MAPPED_HEADER = f"integration.request.header.{ORIGIN_VERIFY_HEADER}"


def maps_origin_secret(request_parameters: Mapping[str, Any] | None) -> bool:
    """A static, non-empty value ('…', quoted as API Gateway requires) for the header; names are case-insensitive."""
    for key, value in (request_parameters or {}).items():
        if key.lower() == MAPPED_HEADER.lower() and isinstance(value, str):
            return len(value) > 2 and value.startswith("'") and value.endswith("'")
    return False


def reaches(integration: PolicyResource, url: PolicyResource) -> bool:
    return url.urn in targets(integration, "uri") or _by_value(integration, url)


def _by_value(integration: PolicyResource, url: PolicyResource) -> bool:
    # Without a dependency (a URL pasted into the program), fall back to comparing the URL itself.
    if integration.property_dependencies.get("uri"):
        return False
    address = (url.props.get("functionUrl") or "").rstrip("/")
    return bool(address) and str(integration.props.get("uri") or "").startswith(address)


def public_url_problems(resources: list[PolicyResource]) -> list[tuple[str, str]]:
    """(message, urn) for every public function URL that is not guarded by the origin-secret header."""
    integrations = of_type(resources, INTEGRATION)
    problems = []
    for url in of_type(resources, FUNCTION_URL):
        if url.props.get("authorizationType") != "NONE":
            continue
        reaching = [integration for integration in integrations if reaches(integration, url)]
        if not reaching:
            problems.append(
                (
                    f"function URL {url.name} has auth NONE and no API Gateway integration in front of it: anyone "
                    "can call the function directly. Use AWS_IAM, or proxy to it from an integration that maps "
                    f"{MAPPED_HEADER}.",
                    url.urn,
                )
            )
        problems += [
            (
                f"integration {integration.name} proxies to the public function URL {url.name} (auth NONE) without "
                f"mapping the origin secret ({MAPPED_HEADER} = '<secret>'): the app refuses it, or, if it does "
                "not check, anyone who finds the URL skips the API.",
                integration.urn,
            )
            for integration in reaching
            if not maps_origin_secret(integration.props.get("requestParameters"))
        ]
    return problems


GUARDED_FUNCTION_URL = stack_policy(
    "guarded-function-url",
    "A function URL with auth NONE only behind an integration that maps the origin-secret header.",
    public_url_problems,
)
