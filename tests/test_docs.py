"""The docs keep up with the code: every setting, CLI command and option, and API route is
documented (after simonw/datasette's tests/test_docs.py).

The lists come from the objects themselves (`Settings.model_fields`, the click command tree
typer builds from `ui.cli.app`, the FastAPI router in `ui.api`), so adding a field, option or
route without a line in docs/ fails here. Nothing loads a model or an index.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from qa.settings import Settings
from ui.cli import app

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _word(text: str) -> re.Pattern[str]:
    """`text` standing alone: `--k` must not match inside `--keep`, nor `-k` inside `--k`."""
    return re.compile(rf"(?<![\w-]){re.escape(text)}(?![\w-])")


def _sections(markdown: str) -> list[tuple[str, str]]:
    """(heading, body) for every heading, the body running to the next heading."""
    parts = re.split(r"^(#{1,6} .*)$", markdown, flags=re.MULTILINE)
    return [(parts[i].lstrip("#").strip(), parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def _commands() -> list[tuple[str, object]]:
    """Every command and subcommand of the CLI as ("eval retrieval", click command)."""
    found = []

    def walk(group, path: list[str]) -> None:
        for name, command in sorted(getattr(group, "commands", {}).items()):
            found.append((" ".join([*path, name]), command))
            walk(command, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def _options() -> list[tuple[str, str]]:
    """(command path, option string) for every option spelling, e.g. ("ask", "-g")."""
    return [
        (path, opt)
        for path, command in _commands()
        for param in command.params
        if param.param_type_name == "option"
        for opt in [*param.opts, *param.secondary_opts]
    ]


SETTINGS_DOC = _read("settings.md")
CLI_SECTIONS = _sections(_read("cli.md"))
HTTP_DOC = _read("http-api.md")


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_documented_as_its_env_var(field: str) -> None:
    var = f"ARCHIVE_QA_{field.upper()}"
    assert _word(f"`{var}`").search(SETTINGS_DOC), f"{var} is missing from docs/settings.md"


def test_the_cli_has_the_commands_this_test_expects() -> None:
    """Guards the walk itself: if typer's command tree changed shape, the tests below would
    pass on an empty list."""
    paths = {path for path, _ in _commands()}
    assert {"build", "ask", "serve", "eval retrieval", "models fetch"} <= paths
    assert ("ask", "--source") in _options()


def _command_sections(path: str) -> list[str]:
    return [body for heading, body in CLI_SECTIONS if _word(path).search(heading)]


@pytest.mark.parametrize("path", [path for path, _ in _commands()])
def test_every_command_has_a_section_in_cli_docs(path: str) -> None:
    assert _command_sections(path), f"docs/cli.md has no heading naming `{path}`"


@pytest.mark.parametrize(("path", "option"), _options())
def test_every_option_is_documented_under_its_command(path: str, option: str) -> None:
    bodies = _command_sections(path)
    assert any(_word(option).search(body) for body in bodies), (
        f"`archive-qa {path} {option}` is missing from its section of docs/cli.md"
    )


def _routes() -> list[str]:
    from ui.api import router

    return sorted(
        f"{method} {route.path}"
        for route in router.routes
        for method in getattr(route, "methods", None) or ()
    )


def test_the_router_has_the_routes_this_test_expects() -> None:
    assert {"POST /api/ask", "GET /api/health"} <= set(_routes())


@pytest.mark.parametrize("route", _routes())
def test_every_route_is_documented(route: str) -> None:
    assert _word(f"`{route}`").search(HTTP_DOC), f"{route} is missing from docs/http-api.md"
