"""Bounded exposure (mocked AWS): reserved concurrency caps the function, usage-plan quotas cap each API key."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, parse_settings
from tests.infra.test_config import values

FUNCTION = "aws:lambda/function:Function"
PLAN = "aws:apigateway/usagePlan:UsagePlan"


def test_prod_caps_the_function_at_its_reserved_concurrency_and_dev_leaves_it_unreserved(program):
    assert program("prod").one(FUNCTION).inputs["reservedConcurrentExecutions"] == 100
    assert program("dev").one(FUNCTION).inputs["reservedConcurrentExecutions"] == -1
    assert program("dev", reservedConcurrency=5).one(FUNCTION).inputs["reservedConcurrentExecutions"] == 5


def test_a_reserved_concurrency_of_zero_is_refused_because_it_stops_the_function():
    with pytest.raises(ConfigError, match=r"^streamgate:reservedConcurrency=0 would throttle every request"):
        parse_settings(values(reservedConcurrency=0), stack="dev")


def test_a_quota_joins_the_rate_limits_of_the_usage_plan(program):
    plan = program("dev", apiKeyRequired=True, quotaLimit=10_000, quotaPeriod="DAY").one(PLAN).inputs
    assert plan["quotaSettings"] == {"limit": 10_000, "period": "DAY"}
    assert plan["throttleSettings"] == {"rateLimit": 10, "burstLimit": 20}


def test_without_a_quota_the_plan_has_only_rate_limits(program):
    assert "quotaSettings" not in program("prod").one(PLAN).inputs


def test_a_quota_without_api_keys_is_refused_naming_both_keys():
    with pytest.raises(ConfigError, match=r"^streamgate:quotaLimit=5 counts requests per API key, but apiKeyRequired"):
        parse_settings(values(quotaLimit=5), stack="dev")


def test_the_quota_period_is_one_api_gateway_knows():
    with pytest.raises(ConfigError, match=r"^streamgate:quotaPeriod='YEAR' is not allowed: expected one of DAY"):
        parse_settings(values(apiKeyRequired=True, quotaLimit=5, quotaPeriod="YEAR"), stack="dev")
