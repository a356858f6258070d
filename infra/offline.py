"""Run the real Pulumi program (`__main__.py`) offline, under mocks, and keep what it registered.

Used by the tests and by `make plan`. Config comes from the same files the CLI reads: Pulumi.yaml defaults,
then Pulumi.<stack>.yaml, then any overrides. The mocks answer like AWS would (ARNs, URLs, digests), so the
values flowing between resources have realistic shapes, and they refuse what AWS refuses (infra/aws_rules.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.sync_await import _sync_await

from infra.aws_rules import AwsRules, PushedImage
from infra.config import PROJECT
from infra.config_reference import load_schema

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "__main__.py"
ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
# How a secret input reaches the mocks: {SIG_KEY: SECRET_SIG, "value": …} (Pulumi's wire format).
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def project_defaults() -> dict[str, Any]:
    schema = load_schema(ROOT / "Pulumi.yaml")
    return {f"{PROJECT}:{key}": spec["default"] for key, spec in schema.items() if "default" in spec}


def stack_file(stack: str) -> dict[str, Any]:
    path = ROOT / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"no stack file {path.name}")
    return (yaml.safe_load(path.read_text()) or {}).get("config") or {}


def stack_config(stack: str, overrides: Mapping[str, Any] | None = None) -> dict[str, str]:
    """What the CLI would hand the program: full keys, every value a string."""
    merged = {**project_defaults(), **stack_file(stack)}
    for key, value in (overrides or {}).items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if value is None:  # unset, as a stack file without the key would leave it
            merged.pop(full_key, None)
        else:
            merged[full_key] = value
    return {key: _config_string(value) for key, value in merged.items()}


def _config_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        # How the CLI hands structured (array) settings to the program: as JSON text.
        return json.dumps(value)
    return str(value)


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    state: dict[str, Any]
    parent_type: str | None = None
    urn: str = ""
    parent_urn: str | None = None
    # Input name -> URNs of the resources its value came from, as the engine (and a policy pack) sees them.
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    id: str = ""
    # URNs the engine waits for before creating or updating this resource (explicit depends_on included).
    dependencies: list[str] = field(default_factory=list)

    @property
    def plain(self) -> dict[str, Any]:
        """The inputs with secrets unwrapped, for assertions about values."""
        return reveal(self.inputs)


@dataclass
class OfflineRun:
    stack: str
    resources: list[Registered]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    warnings: list[str] = field(default_factory=list)

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registered:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one {type_} {name or ''}, found {[r.name for r in found]}")
        return found[0]


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers provider calls like AWS would and records every resource the program registers."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.resources: list[Registered] = []
        self.rules = AwsRules()

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        region, account = self.region, ACCOUNT_ID
        answers = {
            "aws:index/getPartition:getPartition": {
                "id": "aws",
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
            },
            "aws:index/getRegion:getRegion": {
                "id": region,
                "region": region,
                "name": region,
                "endpoint": f"ec2.{region}.amazonaws.com",
                "description": region,
            },
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "id": account,
                "accountId": account,
                "arn": f"arn:aws:iam::{account}:user/offline",
                "userId": "AIDAOFFLINE",
            },
            "aws:ecr/getAuthorizationToken:getAuthorizationToken": {
                "id": region,
                "authorizationToken": "QVdTOm9mZmxpbmUtZWNyLXBhc3N3b3Jk",
                "userName": "AWS",
                "password": "offline-ecr-password",
                "proxyEndpoint": f"https://{account}.dkr.ecr.{region}.amazonaws.com",
                "expiresAt": "2030-01-01T00:00:00Z",
                "registryId": args.args.get("registryId", account),
            },
        }
        if args.token not in answers:
            raise NotImplementedError(f"offline run: no mock answer for {args.token}")
        return answers[args.token], []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        self.rules.check(args.typ, reveal(inputs))
        resource_id, extra = self._outputs(args.typ, args.name, inputs)
        state = {**inputs, **extra}
        self.resources.append(Registered(args.typ, args.name, inputs, state, id=resource_id))
        return resource_id, state

    def _outputs(self, typ: str, name: str, inputs: dict) -> tuple[str, dict]:
        region, account = self.region, ACCOUNT_ID
        token = _fake_hex(typ, name)
        physical = f"{name}-{token[:7]}"
        if typ == "aws:ecr/repository:Repository":
            return physical, {
                "name": physical,
                "registryId": account,
                "arn": f"arn:aws:ecr:{region}:{account}:repository/{physical}",
                "repositoryUrl": f"{account}.dkr.ecr.{region}.amazonaws.com/{physical}",
            }
        if typ == "docker:index/image:Image":
            repository = reveal(inputs["imageName"]).rsplit(":", 1)[0]
            digest = f"sha256:{_fake_hex(typ, repository, 64)}"
            # The Engine API pushes one image manifest for the one platform it built.
            self.rules.pushed(digest, PushedImage(index=False, platforms=(inputs["build"]["platform"],)))
            return repository, {"repoDigest": f"{repository}@{digest}"}
        if typ == "docker-build:index:Image":
            tag = reveal(inputs["tags"])[0]
            digest = f"sha256:{_fake_hex(typ, tag, 64)}"
            platforms = tuple(inputs.get("platforms", ()))
            # Several platforms push an index; so does `exec` (the buildx CLI adds provenance attestations by
            # default, pulumi-docker-build's in-process build turns them off: provider/internal/client.go).
            index = len(platforms) != 1 or bool(inputs.get("exec"))
            self.rules.pushed(digest, PushedImage(index=index, platforms=platforms))
            # `ref` is tag@digest (pulumi-docker-build's Image.ref), the form Lambda refuses.
            return tag, {"digest": digest, "ref": f"{tag}@{digest}", "contextHash": _fake_hex(typ, name, 64)}
        if typ == "aws:iam/role:Role":
            return physical, {"name": physical, "arn": f"arn:aws:iam::{account}:role/{physical}"}
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            group = inputs.get("name", physical)
            return group, {"name": group, "arn": f"arn:aws:logs:{region}:{account}:log-group:{group}"}
        if typ == "random:index/randomPassword:RandomPassword":
            # New keepers replace the resource, and a replacement draws a new value (pulumi-random's docs).
            keepers = json.dumps(inputs.get("keepers") or {}, sort_keys=True)
            return physical, {"result": _fake_hex(typ, name, keepers, int(inputs.get("length", 32)))}
        if typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{region}:{account}:function:{physical}"
            return physical, {
                "name": physical,
                "arn": arn,
                "invokeArn": f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations",
            }
        if typ == "aws:lambda/functionUrl:FunctionUrl":
            return physical, {"functionUrl": f"https://{_fake_hex(typ, name, 32)}.lambda-url.{region}.on.aws/"}
        if typ == "aws:apigateway/restApi:RestApi":
            api_id = token[:10]
            self.rules.rest_api(api_id, reveal(inputs["endpointConfiguration"])["types"])
            return api_id, {
                "name": inputs.get("name", physical),
                "rootResourceId": token[10:20],
                "executionArn": f"arn:aws:execute-api:{region}:{account}:{api_id}",
                "arn": f"arn:aws:apigateway:{region}::/restapis/{api_id}",
            }
        if typ == "aws:apigateway/stage:Stage":
            api_id, stage = inputs["restApi"], inputs["stageName"]
            return f"ags-{api_id}-{stage}", {
                "invokeUrl": f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}",
                "arn": f"arn:aws:apigateway:{region}::/restapis/{api_id}/stages/{stage}",
                "executionArn": f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}",
            }
        if typ == "aws:sns/topic:Topic":
            topic = inputs.get("name", physical)
            return f"arn:aws:sns:{region}:{account}:{topic}", {
                "name": topic,
                "arn": f"arn:aws:sns:{region}:{account}:{topic}",
            }
        if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            alarm = inputs.get("name", physical)
            return alarm, {"arn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm}"}
        if typ == "aws:cloudwatch/dashboard:Dashboard":
            board = inputs["dashboardName"]
            return board, {"dashboardArn": f"arn:aws:cloudwatch::{account}:dashboard/{board}"}
        if typ == "aws:apigateway/domainName:DomainName":
            return inputs["domainName"], {
                "regionalDomainName": f"d-{token[:10]}.execute-api.{region}.amazonaws.com",
                "cloudfrontDomainName": f"d{token[:13]}.cloudfront.net",
            }
        return physical, {}


def _fake_hex(*parts: Any) -> str:
    """Deterministic hex of `length` (last part, default 40) derived from the other parts."""
    length = parts[-1] if isinstance(parts[-1], int) else 40
    seed = "/".join(str(p) for p in parts if not isinstance(p, int))
    text = ""
    counter = 0
    while len(text) < length:
        text += hashlib.sha256(f"{seed}/{counter}".encode()).hexdigest()
        counter += 1
    return text[:length]


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def reveal(value: Any) -> Any:
    """The plain value of a possibly secret input, secrets unwrapped at any depth."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {key: reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal(item) for item in value]
    return value


class _RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """The mock monitor, also keeping what the engine learns from each registration: parent and dependencies."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: dict[str, tuple[str | None, dict[str, list[str]], list[str]]] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        dependencies = {key: list(value.urns) for key, value in request.propertyDependencies.items()}
        self.registrations[response.urn] = (request.parent or None, dependencies, list(request.dependencies))
        return response


def _record_graph(resources: list[Registered], monitor: _RecordingMonitor) -> None:
    """Note each resource's URN, parent (type and URN) and property dependencies, matched by type and name."""
    by_key = {}
    for urn, (parent_urn, dependencies, waits_for) in monitor.registrations.items():
        qualified_type, name = urn.split("::")[2:4]
        chain = qualified_type.split("$")
        by_key[(chain[-1], name)] = (urn, chain[-2] if len(chain) > 1 else None, parent_urn, dependencies, waits_for)
    for resource in resources:
        found = by_key.get((resource.type, resource.name))
        if found:
            (
                resource.urn,
                resource.parent_type,
                resource.parent_urn,
                resource.property_dependencies,
                resource.dependencies,
            ) = found


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _ensure_event_loop() -> None:
    """Pulumi's runtime uses the thread's current event loop; an `asyncio.run()` earlier in the same
    process (another test, say) leaves none behind, or a closed one."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def run_program(stack: str, overrides: Mapping[str, Any] | None = None) -> OfflineRun:
    """Run __main__.py for `stack` under fresh mocks and config; raises what the program raises."""
    config = stack_config(stack, overrides)
    mocks = RecordingMocks(config.get("aws:region", DEFAULT_REGION))
    monitor = _RecordingMonitor(mocks)
    warnings = _Warnings()
    logger = logging.getLogger(f"streamgate.offline.{stack}")
    logger.handlers[:] = [warnings]
    logger.propagate = False

    _ensure_event_loop()
    # Pulumi keeps its runtime in process globals: start each run from a clean slate so one config's
    # resources, outputs or root stack never leak into the next.
    runtime_settings.set_root_resource(None)  # type: ignore[arg-type]
    runtime_settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_all_config(config, secret_keys=[])
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, logger=logger, monitor=monitor)
    root = runtime_settings.get_root_resource()

    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()

    async def program() -> None:
        runpy.run_path(str(MAIN), run_name="__main__")
        for key, value in root.outputs.items():  # type: ignore[union-attr]
            output = pulumi.Output.from_input(value)
            outputs[key] = await output.future()
            if await output.is_secret():
                secret_outputs.add(key)

    _sync_await(pulumi.runtime.stack.run_pulumi_func(program))
    _record_graph(mocks.resources, monitor)
    return OfflineRun(stack, mocks.resources, outputs, secret_outputs, warnings.messages)
