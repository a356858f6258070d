"""Pulumi.yaml's typed schema and the stack files agree with each other and with what the program reads."""

from __future__ import annotations

import json

import pytest
import yaml

from infra.config import KEYS, parse_settings
from infra.offline import ROOT, stack_config, stack_file

# From Pulumi's project schema (sdk/go/common/workspace/project.json, $defs/configTypeDeclaration and
# simpleConfigType; an array declares the type of its `items`).
CONFIG_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}
DECLARATION_FIELDS = {"type", "items", "description", "secret", "default"}

PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
SCHEMA = PROJECT["config"]


def test_project_name_and_runtime_are_unchanged():
    assert PROJECT["name"] == "streamgate"
    assert PROJECT["runtime"] == {"name": "python", "options": {"toolchain": "uv"}}


def test_every_key_the_program_reads_is_declared_and_nothing_else_is():
    assert set(SCHEMA) == set(KEYS)


@pytest.mark.parametrize("key", sorted(SCHEMA))
def test_each_declaration_is_typed_described_and_defaulted_with_a_value_of_its_type(key):
    declaration = SCHEMA[key]
    assert set(declaration) <= DECLARATION_FIELDS
    assert declaration["type"] in CONFIG_TYPES
    assert declaration["description"].strip()
    # Without a default Pulumi demands the key in every stack file, even where it is unused.
    assert "default" in declaration
    assert type(declaration["default"]) is CONFIG_TYPES[declaration["type"]]
    if declaration["type"] == "array":
        item_type = CONFIG_TYPES[declaration["items"]["type"]]
        assert all(type(item) is item_type for item in declaration["default"])


def _as_the_cli_passes_it(value: object) -> str:
    # Booleans as true/false, arrays as JSON text, everything else as its string.
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, list) else str(value)


def test_the_defaults_alone_are_a_valid_configuration():
    defaults = {key: _as_the_cli_passes_it(spec["default"]) for key, spec in SCHEMA.items()}
    settings = parse_settings(defaults, stack="any")
    assert settings.response_transfer_mode == "STREAM"
    assert settings.architecture == "arm64"
    assert settings.endpoint_type == "REGIONAL"
    assert settings.integration_timeout_ms == settings.timeout * 1000


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_set_only_declared_project_keys_with_values_of_the_declared_type(stack):
    for full_key, value in stack_file(stack).items():
        namespace, key = full_key.split(":", 1)
        if namespace != "streamgate":
            assert namespace == "aws", f"{full_key} belongs to no provider this program uses"
            continue
        assert key in SCHEMA, f"{full_key} is not declared in Pulumi.yaml"
        assert type(value) is CONFIG_TYPES[SCHEMA[key]["type"]], full_key


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_pin_a_region(stack):
    assert stack_config(stack)["aws:region"]
