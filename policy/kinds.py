"""The two kinds of policy this pack has, built from plain functions that return their problems (easy to read, and
to test without the SDK): per resource, on its inputs before it is created; per stack, on the whole graph."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# (resource name, resource type, its properties) -> messages
ResourceProblems = Callable[[str, str, Mapping[str, Any]], Iterable[str]]
# every resource -> (message, URN of the resource it is about)
StackProblems = Callable[[list[PolicyResource]], Iterable[tuple[str, str]]]


def resource_policy(name: str, description: str, problems: ResourceProblems) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in problems(args.name, args.resource_type, args.props):
            report_violation(message)

    return ResourceValidationPolicy(name=name, description=description, validate=validate)


def stack_policy(name: str, description: str, problems: StackProblems) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for message, urn in problems(list(args.resources)):
            report_violation(message, urn)

    return StackValidationPolicy(name=name, description=description, validate=validate)
