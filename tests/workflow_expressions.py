"""A test double for GitHub Actions expressions (`${{ … }}` and `if:`), enough to ask what a workflow does for an event.

It follows GitHub's "Evaluate expressions in workflows and actions" reference: literals (`'…'` with `''` for a quote,
numbers, true/false/null), property paths with `.name`, `[index]` and the `.*` object filter, the operators
`!`, `== !=`, `&& ||` (which return an operand, as in JavaScript) and `( )`, the functions `contains`,
`startsWith`, `endsWith`, `format`, and the status functions. Strings compare case-insensitively; values of
different types compare as numbers (null is 0, booleans 0 and 1, a string its number or NaN). A job's `if:` without
a status function is `success() && (…)`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][\w-]*)"
    r"|(?P<op>==|!=|&&|\|\||<=|>=|[!<>()\[\].,*]))"
)
STATUS_FUNCTIONS = ("success", "always", "failure", "cancelled")


class ExpressionError(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    found, position = [], 0
    while position < len(text.rstrip()):
        match = TOKEN.match(text, position)
        if not match:
            raise ExpressionError(f"cannot read {text[position:]!r}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip() or 0)
        except ValueError:
            return math.nan
    return math.nan


def equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    if type(left) is type(right) and not isinstance(left, int | float):
        return left == right
    a, b = _number(left), _number(right)
    return not (math.isnan(a) or math.isnan(b)) and a == b


def truthy(value: Any) -> bool:
    return value not in (None, False, "", 0) and not (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _contains(search: Any, item: Any) -> bool:
    if isinstance(search, list):
        return any(equal(element, item) for element in search)
    return _text(item).lower() in _text(search).lower()


class _Parser:
    def __init__(self, text: str, context: dict[str, Any], functions: dict[str, Callable[..., Any]]) -> None:
        self.tokens, self.at, self.context, self.functions = _tokens(text), 0, context, functions

    def parse(self) -> Any:
        value = self._or()
        if self.at != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.at][1]!r}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.at]
        if expected is not None and token[1] != expected:
            raise ExpressionError(f"expected {expected!r}, found {token[1]!r}")
        self.at += 1
        return token

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            value = value if truthy(value) else right
        return value

    def _and(self) -> Any:
        value = self._equality()
        while self._peek() == "&&":
            self._take()
            right = self._equality()
            value = right if truthy(value) else value
        return value

    def _equality(self) -> Any:
        value = self._unary()
        while self._peek() in ("==", "!="):
            operator = self._take()[1]
            same = equal(value, self._unary())
            value = same if operator == "==" else not same
        return value

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not truthy(self._unary())
        return self._postfix(self._primary())

    def _primary(self) -> Any:
        kind, text = self._take()
        if text == "(":
            value = self._or()
            self._take(")")
            return value
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return float(text)
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r}")
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self._peek() == "(":
            self._take("(")
            arguments = []
            while self._peek() != ")":
                arguments.append(self._or())
                if self._peek() == ",":
                    self._take(",")
            self._take(")")
            return self.functions[text](*arguments)
        return self.context.get(text)

    def _postfix(self, value: Any) -> Any:
        while self._peek() in (".", "["):
            if self._take()[1] == "[":
                index = self._or()
                self._take("]")
                value = _member(value, index)
                continue
            _, name = self._take()
            if name == "*":
                value = list(value.values()) if isinstance(value, dict) else list(value or [])
                value = _Filtered(value)
            else:
                value = _member(value, name)
        return list(value) if isinstance(value, _Filtered) else value


class _Filtered(list):
    """The result of `.*`: a following `.name` picks that property from every element."""


def _member(value: Any, key: Any) -> Any:
    if isinstance(value, _Filtered):
        return _Filtered(_member(element, key) for element in value)
    if isinstance(value, dict):
        matches = [item for name, item in value.items() if str(name).lower() == str(key).lower()]
        return matches[0] if matches else None
    if isinstance(value, list) and isinstance(key, int | float) and 0 <= int(key) < len(value):
        return value[int(key)]
    return None


def _format(template: str, *values: Any) -> str:
    parts = re.split(r"(\{\{|\}\}|\{\d+\})", template)
    rendered = {"{{": "{", "}}": "}"}
    return "".join(
        rendered.get(part) or (_text(values[int(part[1:-1])]) if re.fullmatch(r"\{\d+\}", part) else part)
        for part in parts
    )


def evaluate(expression: str, context: dict[str, Any], status: dict[str, bool] | None = None) -> Any:
    status = {"success": True, "always": True, "failure": False, "cancelled": False, **(status or {})}
    functions: dict[str, Callable[..., Any]] = {
        "contains": _contains,
        "startsWith": lambda text, prefix: _text(text).lower().startswith(_text(prefix).lower()),
        "endsWith": lambda text, suffix: _text(text).lower().endswith(_text(suffix).lower()),
        "format": _format,
        **{name: (lambda result=status[name]: result) for name in STATUS_FUNCTIONS},
    }
    return _Parser(expression.strip().removeprefix("${{").removesuffix("}}"), context, functions).parse()


def runs(condition: str | None, context: dict[str, Any], status: dict[str, bool] | None = None) -> bool:
    """Whether a job with this `if:` runs; without a status function GitHub checks `success()` first."""
    if condition is None:
        return bool((status or {}).get("success", True))
    expression = condition.strip().removeprefix("${{").removesuffix("}}")
    if not any(re.search(rf"\b{name}\(\)", expression) for name in STATUS_FUNCTIONS):
        expression = f"success() && ({expression})"
    return truthy(evaluate(expression, context, status))


def interpolate(template: str, context: dict[str, Any]) -> str:
    """A string with `${{ … }}` parts, as GitHub renders it (e.g. a concurrency group)."""
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: _text(evaluate(m.group(1), context)), template, flags=re.DOTALL)
