"""The README stays true: its commands, its options and its Python snippets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import jinja2
import pytest
from conftest import BROWSER_UA
from werkzeug.test import Client

from linkback import LinkbackMiddleware
from linkback.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

SNIPPET = re.compile(r"(?:<!--(?P<note>[^>]*)-->\n)?```python\n(?P<code>.*?)```", re.S)


def snippets() -> list[Any]:
    params = []
    for match in SNIPPET.finditer(README):
        line = README[: match.start("code")].count("\n") + 1
        marks = [pytest.mark.skip(reason=match["note"].strip())] if match["note"] else []
        params.append(pytest.param(match["code"], id="README line %d" % line, marks=marks))
    return params


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert README.index("make demo") < README.index("## ")


def _commands(group: click.Group) -> list[click.Command]:
    return [group.commands[name] for name in sorted(group.commands)]


@pytest.mark.parametrize("command", _commands(main), ids=lambda c: c.name)
def test_every_command_and_option_is_in_the_readme(command: click.Command) -> None:
    assert "linkback %s" % command.name in README
    for param in command.params:
        if isinstance(param, click.Option):
            longest = max(param.opts, key=len)
            assert longest in README, "%s %s is not documented" % (command.name, longest)


def test_every_middleware_option_is_in_the_readme() -> None:
    from linkback.config import EXTRA_OPTIONS, Options

    names = [f for f in Options.__dataclass_fields__ if f not in ("blacklist_hosts", "extra")]
    for name in [*names, *EXTRA_OPTIONS]:
        assert "`%s`" % name in README, "option %s is not documented" % name


@pytest.mark.parametrize("code", snippets())
def test_readme_snippet_runs(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spammers.txt").write_text("spam.example\n")
    page = tmp_path / "public" / "2024" / "hello"
    page.mkdir(parents=True)
    (page / "index.html").write_text(
        '<article class="h-entry"><div class="e-content"><p>Hello. <a href="/about">About me</a>'
        "</p></div></article>"
    )

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<p>page</p>"]

    class Request:
        url = "https://example.com/posts/hello"

    middleware = LinkbackMiddleware(app, str(tmp_path / "linkback.db"), sites=["example.com"], crawl=False)
    namespace = {"app": app, "request": Request(), "middleware": middleware, "env": jinja2.Environment(),
                 "__name__": "readme_snippet"}
    try:
        exec(compile(code, "README.md", "exec"), namespace)
        # An application the snippet built must serve a page, counted or not, without error.
        for name in ("application", "app"):
            built = namespace.get(name)
            if built is not None and built is not app:
                response = Client(built).get(
                    "/posts/hello",
                    headers={"Host": "example.com", "Referer": "https://blog.example.org/",
                             "User-Agent": BROWSER_UA},
                )
                assert response.status_code == 200, response.data[:300]
                break
    finally:
        middleware.close()
        for value in list(namespace.values()):
            if isinstance(value, LinkbackMiddleware):
                value.close()
        flask_app = namespace.get("app")
        if flask_app is not None and hasattr(flask_app, "extensions"):
            flask_app.extensions["linkback"].close()
