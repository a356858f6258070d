"""README.md tells the truth about the code: quick start, make targets, settings, variables and commands."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from handler.contract import SESSION_ID
from handler.settings import ModelOptions, Settings
from infra import config_reference
from infra.config import KEYS
from streamcheck.cli import parser as streamcheck_parser
from tests.loopback import ROOT

README = ROOT / "README.md"
FENCED = re.compile(r"^ *```[^\n]*\n(.*?)^ *```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`\n]+)`")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def readme() -> str:
    return README.read_text()


def section(title: str) -> str:
    """The text under the `## title` heading, up to the next level-2 heading."""
    text = readme()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def code_texts(text: str) -> list[str]:
    """Every fenced block and inline code span: where commands are written."""
    blocks = FENCED.findall(text)
    return blocks + INLINE.findall(FENCED.sub("", text))


def makefile_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):(?!=)", makefile, re.MULTILINE))


def env_names_read_by_the_app() -> set[str]:
    """Variable names the app reads: the settings reader's calls, and os.environ in `python -m handler`."""
    names = set()
    readers = {
        "text",
        "choice",
        "number",
        "integer",
        "pattern",
        "flag",
        "matching",
        "optional_number",
        "optional_integer",
        "json_object",
        "secret",
    }
    for path, methods in ((ROOT / "handler" / "settings.py", readers), (ROOT / "handler" / "__main__.py", {"get"})):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in methods:
                argument = node.args[0] if node.args else None
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                argument = node.slice
            else:
                continue
            if isinstance(argument, ast.Constant) and ENV_NAME.match(str(argument.value)):
                names.add(argument.value)
            elif _model_variable(argument):
                names.add(ModelOptions.variable(argument.args[0].value))  # type: ignore[union-attr]
    return names


def _model_variable(argument: ast.expr | None) -> bool:
    """`name("max_tokens")`: a model setting read from the variable `ModelOptions.variable` names."""
    return (
        isinstance(argument, ast.Call)
        and ast.unparse(argument.func) == "name"
        and len(argument.args) == 1
        and isinstance(argument.args[0], ast.Constant)
    )


def env_table() -> dict[str, list[str]]:
    """The README's table of the app's variables: each name in a row's first cell -> the row's cells."""
    text = readme()
    block = text[text.index("<!-- app-env:begin -->") : text.index("<!-- app-env:end -->")]
    rows = {}
    for line in block.splitlines()[3:]:  # marker, header, separator
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for name in INLINE.findall(cells[0]):
            rows[name] = cells
    return rows


def test_the_quick_start_is_make_test_then_make_local_then_the_curl():
    quick_start = section("Quick start")
    blocks = FENCED.findall(quick_start)
    commands = [line.strip() for line in blocks[0].splitlines() if line.strip()]
    assert commands[:2] == ["make test", "make local"]
    curl = blocks[1].strip()
    assert curl.startswith("curl -N -X POST localhost:8080/invoke ")
    assert '"prompt":' in curl


def test_the_configuration_reference_is_what_pulumi_yaml_renders_today():
    rendered = config_reference.render(config_reference.load_schema())
    assert config_reference.between_markers(readme()) == rendered, "run `make docs`"


def test_the_reference_has_one_row_per_setting_the_program_reads():
    rendered = config_reference.render(config_reference.load_schema())
    documented = re.findall(r"^\| `(\w+)` \|", rendered, re.MULTILINE)
    assert documented == list(KEYS)


def test_the_reference_escapes_what_markdown_would_swallow():
    table = config_reference.render(
        {"k": {"type": "string", "default": "", "description": "arn:<region> | a*b\n  wrapped"}}
    )
    assert table.splitlines()[2] == "| `k` | string | *(empty)* | arn:&lt;region&gt; \\| a\\*b wrapped |"


def test_make_docs_rewrites_a_stale_reference_and_check_notices(tmp_path: Path):
    stale = tmp_path / "README.md"
    stale.write_text(f"# x\n\n{config_reference.BEGIN}\n| old |\n{config_reference.END}\n\nafter\n")
    assert config_reference.main(["--check", str(stale)]) == 1
    assert config_reference.main(["--write", str(stale)]) == 0
    fresh = stale.read_text()
    assert config_reference.between_markers(fresh) == config_reference.render(config_reference.load_schema())
    assert fresh.startswith("# x\n\n")
    assert fresh.endswith("\n\nafter\n")
    assert config_reference.main(["--check", str(stale)]) == 0
    assert config_reference.main(["--check", str(README)]) == 0


def test_the_generator_refuses_a_document_without_markers(tmp_path: Path):
    bare = tmp_path / "README.md"
    bare.write_text("no markers\n")
    assert config_reference.main(["--write", str(bare)]) == 2
    assert bare.read_text() == "no markers\n"


def test_every_make_target_the_readme_mentions_exists_and_every_target_is_mentioned():
    mentioned = {
        target
        for code in code_texts(readme())
        for target in re.findall(r"(?:^|(?<=[\s;&|(]))make\s+([a-z][\w-]*)", code, re.MULTILINE)
    }
    targets = makefile_targets()
    assert {"test", "local", "docs"} <= targets
    assert mentioned - targets == set(), "the README names make targets the Makefile lacks"
    assert targets - {"help"} - mentioned == set(), "Makefile targets the README does not document"


def test_the_app_variables_table_lists_exactly_what_the_app_reads():
    read = env_names_read_by_the_app()
    assert {"BACKEND", "HEARTBEAT_SECONDS", "ORIGIN_VERIFY_SECRET", "PORT"} <= read
    assert set(env_table()) == read


def _shown(default: object) -> str:
    """A default as the README writes it: booleans as the lower-case words the app reads, lists comma-separated."""
    if isinstance(default, tuple):
        return ",".join(default)
    return str(default).lower() if isinstance(default, bool) else str(default)


def test_the_documented_defaults_are_the_apps():
    fields = {field.name: field.default for field in dataclasses.fields(Settings)}
    main = (ROOT / "handler" / "__main__.py").read_text()
    code_defaults = {
        name: _shown(fields[name.lower()]) for name in env_names_read_by_the_app() if name.lower() in fields
    } | {name: value for name, value in re.findall(r"environ\.get\(\"([A-Z_]+)\", \"([^\"]*)\"\)", main)}
    documented = {name: INLINE.findall(cells[1]) for name, cells in env_table().items()}
    for name, default in code_defaults.items():
        if default == "None":
            assert not documented[name], name
            continue
        (shown, *_) = documented[name]
        assert shown == default or float(shown) == float(default), name


def test_example_session_ids_are_ones_the_app_accepts():
    examples = re.findall(r'"session_id":\s*"([^"]+)"', readme())
    assert examples
    for example in examples:
        assert SESSION_ID.fullmatch(example), example


def test_streamcheck_commands_use_only_options_it_has():
    known = {option for action in streamcheck_parser()._actions for option in action.option_strings}
    used = set()
    for code in code_texts(readme()):
        for line in code.splitlines():
            if "python -m streamcheck" in line:
                command = line.split("python -m streamcheck", 1)[1].split("#")[0]
                used |= set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", command))
    assert {"--stack", "--both", "--api-key", "--header"} <= used
    assert used - known == set()


@pytest.mark.parametrize("path", ["handler/Dockerfile", "infra/image.py", "infra/modes.py", "infra/offline.py"])
def test_files_the_readme_links_exist(path):
    assert f"]({path})" in readme()
    assert (ROOT / path).is_file()
