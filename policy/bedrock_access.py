"""IAM documents never allow a Bedrock or AgentCore action on Resource "*": the function may call exactly the model,
inference profile or agent runtime it is configured for. Statement grammar from the IAM JSON policy reference:
Action/NotAction and Resource/NotResource are a string or a list; `*` and `?` are wildcards in both."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from policy.kinds import resource_policy

SERVICES = ("bedrock", "bedrock-agentcore")
# Resources that carry an IAM policy document, and where it is.
DOCUMENTS = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
ROLE = "aws:iam/role:Role"


def documents(resource_type: str, props: Mapping[str, Any]) -> Iterator[Any]:
    if resource_type in DOCUMENTS:
        yield props.get(DOCUMENTS[resource_type])
    elif resource_type == ROLE:
        for inline in props.get("inlinePolicies") or []:
            yield inline.get("policy")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, str):
        document = json.loads(document) if document.strip() else {}
    statements = (document or {}).get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _split(action_pattern: str) -> tuple[str, str]:
    service, _, action = action_pattern.lower().partition(":")
    return (service, action) if action else (service, "*")


def covers_bedrock(action_pattern: str) -> bool:
    """Whether an action (or a wildcard pattern of actions) includes an action of Bedrock or AgentCore."""
    service, _ = _split(action_pattern)
    return any(fnmatchcase(name, service) for name in SERVICES)


def _excludes_all_of(service: str, excluded: list[str]) -> bool:
    return any(
        fnmatchcase(service, pattern_service) and action == "*" for pattern_service, action in map(_split, excluded)
    )


def statement_problem(statement: Mapping[str, Any]) -> str | None:
    if statement.get("Effect") != "Allow":
        return None
    if "NotAction" in statement:
        excluded = [str(action) for action in _as_list(statement["NotAction"])]
        granted = not all(_excludes_all_of(service, excluded) for service in SERVICES)
        actions = [f"every action but {', '.join(excluded)}"] if granted else []
    else:
        actions = [action for action in _as_list(statement.get("Action")) if covers_bedrock(action)]
    if not actions:
        return None
    if "NotResource" in statement:
        return f"allows {', '.join(actions)} on every resource but {_as_list(statement['NotResource'])}"
    if "*" in _as_list(statement.get("Resource")):
        return f'allows {", ".join(actions)} on Resource "*"'
    return None


def document_problems(name: str, docs: Sequence[Any]) -> list[str]:
    problems = []
    for document in docs:
        for index, statement in enumerate(_statements(document)):
            if problem := statement_problem(statement):
                problems.append(
                    f"{name}: statement {index} {problem}. Name the model, inference profile or agent runtime "
                    "ARNs the function calls instead."
                )
    return problems


def _problems(name: str, resource_type: str, props: Mapping[str, Any]) -> list[str]:
    return document_problems(name, list(documents(resource_type, props)))


SCOPED_BEDROCK_ACCESS = resource_policy(
    "scoped-bedrock-access",
    'No IAM statement allows bedrock:* or bedrock-agentcore:* actions on Resource "*".',
    _problems,
)
