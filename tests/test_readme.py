"""The README's examples are what new users copy: keep them working."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from archive.cli import cli
from archive.config import load_config

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")


def fenced_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", TEXT, flags=re.S)


@pytest.mark.parametrize("block", fenced_blocks("toml"))
def test_every_toml_example_is_a_valid_config(block: str, tmp_path: Path) -> None:
    path = tmp_path / "listarchive.toml"
    path.write_text(block, encoding="utf-8")
    config = load_config(path)
    assert config.groups, "a README config example that names no groups"


def test_the_readme_has_toml_examples() -> None:
    assert len(fenced_blocks("toml")) >= 2


def test_every_command_is_documented_with_an_example() -> None:
    import click

    for name, command in cli.commands.items():
        assert f"listarchive {name}" in TEXT, f"README never shows `listarchive {name}`"
        for sub in command.commands if isinstance(command, click.Group) else ():
            shown = f"listarchive {name} {sub}"
            assert shown in TEXT, f"README never shows `{shown}`"


def test_quick_start_is_two_commands_as_the_ci_runs_them() -> None:
    quick = TEXT.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [b.strip() for b in re.findall(r"```bash\n(.*?)```", quick, flags=re.S)]
    assert commands[0].startswith("pip install . && listarchive sync https://groups.google.com/")
    assert commands[1] == 'pip install -e ".[test]" && pytest'
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci
