"""The app's botocore loader reads botocore's own files with less work: it finds a service in that
service's own folder, where botocore's lists all 440-odd of them (twice) to make one client, and parses
JSON into plain dicts rather than through an OrderedDict hook. What it loads is what botocore loads."""

from __future__ import annotations

import json
import os

import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError
from botocore.loaders import Loader

from handler.backends import aws, data_loader


@pytest.fixture
def listings(monkeypatch):
    """How many directories are listed while the test runs."""
    count = {"n": 0}
    real = os.listdir

    def counted(path="."):
        count["n"] += 1
        return real(path)

    monkeypatch.setattr(os, "listdir", counted)
    return count


def test_making_a_client_lists_its_own_service_folder_not_every_service(listings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    client = aws.make_client("bedrock-agentcore", "us-east-1")
    assert client.meta.service_model.service_name == "bedrock-agentcore"
    assert listings["n"] <= 4

    listings["n"] = 0
    botocore.session.Session().create_client("bedrock-agentcore", region_name="us-east-1")
    assert listings["n"] > 400, "botocore's own loader lists every service: the reason for this one"


@pytest.mark.parametrize("type_name", ["service-2", "endpoint-rule-set-1"])
def test_a_service_is_known_exactly_when_botocore_would_know_it(type_name):
    known = data_loader.loader_for(None).list_available_services(type_name)
    listed = Loader().list_available_services(type_name)
    assert sorted(known) == listed
    assert len(known) == len(listed)
    assert all(name in known for name in listed)
    assert "bedrock-agentcore" in known
    for stranger in ("no-such-service", "", None, 42, "../data"):
        assert stranger not in known


def test_an_unknown_service_fails_as_botocore_fails_naming_the_known_ones():
    session = botocore.session.Session()
    session.register_component("data_loader", data_loader.loader_for(None))
    with pytest.raises(UnknownServiceError) as refused:
        session.create_client("bedrock-agentcor", region_name="us-east-1")
    assert "Unknown service: 'bedrock-agentcor'" in str(refused.value)
    assert "bedrock-agentcore" in str(refused.value)


def test_models_in_aws_data_path_are_found_first(tmp_path, monkeypatch):
    """AWS_DATA_PATH's folders come before botocore's own, as with botocore's loader."""
    model = tmp_path / "private-service" / "2024-01-01"
    model.mkdir(parents=True)
    (model / "service-2.json").write_text(json.dumps({"metadata": {}, "operations": {}, "shapes": {}}))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    session = botocore.session.Session()
    loader = data_loader.loader_for(session.get_config_variable("data_path"))
    assert loader.search_paths[0] == str(tmp_path)
    assert loader.search_paths[1:] == Loader().search_paths
    assert "private-service" in loader.list_available_services("service-2")
    assert loader.load_service_model("private-service", "service-2")["operations"] == {}


@pytest.mark.parametrize("name", ["endpoints", "partitions", "sdk-default-configuration", "_retry"])
def test_botocores_own_files_load_as_plain_dicts_with_the_same_content_and_order(name):
    ours, botocores = data_loader.loader_for(None), Loader()
    loaded, expected = ours.load_data(name), botocores.load_data(name)
    assert loaded == expected
    assert type(loaded) is dict
    assert list(loaded) == list(expected), "the file's order is kept"


def test_a_gzipped_service_model_loads_as_botocores_does():
    ours, botocores = data_loader.loader_for(None), Loader()
    for type_name in ("service-2", "endpoint-rule-set-1"):
        loaded = ours.load_service_model("bedrock-agentcore", type_name)
        assert loaded == botocores.load_service_model("bedrock-agentcore", type_name)
    shapes = ours.load_service_model("bedrock-agentcore", "service-2")["shapes"]
    assert list(shapes) == list(botocores.load_service_model("bedrock-agentcore", "service-2")["shapes"])
    assert "InvokeAgentRuntimeRequest" in shapes
