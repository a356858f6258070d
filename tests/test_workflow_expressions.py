"""The expression double follows GitHub's documented evaluation rules (the examples of "Evaluate expressions in
workflows and actions"), so what test_workflows.py concludes from it holds on GitHub."""

from __future__ import annotations

import pytest

from tests.workflow_expressions import ExpressionError, evaluate, interpolate, runs

CONTEXT = {
    "github": {
        "run_id": 7,
        "event": {"label": None, "pull_request": {"labels": [{"name": "bug"}, {"name": "Review-Stack"}]}},
    }
}


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("'abc' == 'ABC'", True),  # strings compare ignoring case
        ("1 == '1'", True),  # different types compare as numbers
        ("null == 0", True),
        ("null == ''", True),  # both convert to 0
        ("'abc' == 0", False),  # NaN equals nothing
        ("true == 1", True),
        ("'a' && 'b'", "b"),  # && and || return an operand
        ("'' || 'x'", "x"),
        ("!''", True),
        ("github.event.label.name == 'review-stack'", False),  # a property of null is null
        ("contains(github.event.pull_request.labels.*.name, 'review-stack')", True),
        ("contains(github.event.pull_request.labels.*.name, 'docs')", False),
        ("contains('Hello world', 'llo')", True),
        ("startsWith('Hello world', 'he')", True),
        ("format('{0}-{{1}}-{1}', 'a', 3)", "a-{1}-3"),
        ("(false || true) && 'yes'", "yes"),
    ],
)
def test_expressions_evaluate_as_github_documents(expression, value):
    assert evaluate(expression, CONTEXT) == value


def test_a_job_condition_without_a_status_function_also_needs_success():
    assert runs("true", CONTEXT, {"success": False}) is False
    assert runs("always() && true", CONTEXT, {"success": False}) is True
    assert runs(None, CONTEXT) is True


def test_templates_render_their_expressions():
    assert interpolate("group-${{ github.run_id }}-${{ 'x' }}", CONTEXT) == "group-7-x"


def test_unreadable_expressions_are_refused():
    with pytest.raises(ExpressionError):
        evaluate("github.event ===", CONTEXT)
