"""The policy tests run the pack against the same cached offline program runs as tests/infra."""

from tests.infra.conftest import RUNTIME_ARN, USER_SET, program, pytest_configure

__all__ = ["RUNTIME_ARN", "USER_SET", "program", "pytest_configure"]
