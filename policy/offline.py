"""Run the pack the way the Pulumi engine does, without the engine: every resource through the analyzer's
`Analyze` (its inputs, before it is created) and the whole stack through `AnalyzeStack` (inputs and outputs, with
parents and property dependencies), as protobuf requests to pulumi-policy's own analyzer service.

So the properties reach the policies as they would for real: numbers as floats, secrets unwrapped, unknown values
(`pulumi preview`) raising inside a policy and reported as an advisory "can't run during preview".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from infra.offline import Registered
from policy.pack import NAME, POLICIES

LEVELS = {analyzer_pb2.ADVISORY: "advisory", analyzer_pb2.MANDATORY: "mandatory", analyzer_pb2.DISABLED: "disabled"}


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    level: str
    message: str
    urn: str


def _struct(properties: Mapping[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(dict(properties), struct_pb2.Struct())


def _stack_resource(resource: Registered) -> analyzer_pb2.AnalyzerResource:
    return analyzer_pb2.AnalyzerResource(
        type=resource.type,
        properties=_struct(resource.state),
        urn=resource.urn,
        name=resource.name,
        parent=resource.parent_urn or "",
        propertyDependencies={
            key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
            for key, urns in resource.property_dependencies.items()
        },
    )


def analyze(
    resources: Sequence[Registered], policies: list[Policy] = POLICIES, levels: Mapping[str, str] | None = None
) -> list[Diagnostic]:
    """Every diagnostic the pack reports for these resources (an empty list: the stack passes). `levels` is what a
    `--policy-pack-config` file would say, e.g. {"streaming-integration": "advisory"}."""
    analyzer = _PolicyAnalyzerServicer(NAME, "0.0.0-offline", policies, EnforcementLevel.MANDATORY)
    if levels:
        by_name = {name: level for level, name in LEVELS.items()}
        analyzer.Configure(
            analyzer_pb2.ConfigureAnalyzerRequest(
                policyConfig={
                    policy: analyzer_pb2.PolicyConfig(enforcementLevel=by_name[level])
                    for policy, level in levels.items()
                }
            ),
            None,
        )
    found = []
    for resource in resources:
        request = analyzer_pb2.AnalyzeRequest(
            type=resource.type, properties=_struct(resource.inputs), urn=resource.urn, name=resource.name
        )
        # The engine files a resource policy's violation under the resource it was analyzing.
        found += [_diagnostic(d, resource.urn) for d in analyzer.Analyze(request, None).diagnostics]
    stack = analyzer_pb2.AnalyzeStackRequest(resources=[_stack_resource(resource) for resource in resources])
    found += [_diagnostic(d, "") for d in analyzer.AnalyzeStack(stack, None).diagnostics]
    return found


def _diagnostic(diagnostic: analyzer_pb2.AnalyzeDiagnostic, urn: str) -> Diagnostic:
    level = LEVELS.get(diagnostic.enforcementLevel, str(diagnostic.enforcementLevel))
    return Diagnostic(diagnostic.policyName, level, diagnostic.message, diagnostic.urn or urn)
