"""How stack policies tell which resource another one points at: by the engine's property dependencies, which are
known during a preview too (the IDs they carry are not, for anything not yet created)."""

from __future__ import annotations

from collections.abc import Iterable

from pulumi_policy import PolicyResource


def of_type(resources: Iterable[PolicyResource], resource_type: str) -> list[PolicyResource]:
    return [resource for resource in resources if resource.resource_type == resource_type]


def targets(resource: PolicyResource, prop: str) -> set[str]:
    """URNs of the resources `prop`'s value came from; its plain value when it came from none (an ID or ARN
    written into the program or read from another stack), so equal values still match."""
    urns = {dependency.urn for dependency in resource.property_dependencies.get(prop, [])}
    if urns:
        return urns
    value = resource.props.get(prop)
    return {f"value:{value}"} if isinstance(value, str) and value else set()
