"""The README and docs/ say only what exists: every setting, command and flag they show is real,
every setting is documented, and every command of the README's console blocks runs as written."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from conftest import BUNDLED_LOOP, BUNDLED_STATIONS
from stations.cli import app
from stations.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md"))}
SETTINGS = {f"STATIONS_{name.upper()}" for name in Settings.model_fields}
#: Environment variables of the tests, not of the service.
TEST_ONLY = {"STATIONS_TEST_CHROMIUM"}


def code_blocks(text: str, *languages: str) -> list[str]:
    """The bodies of the fenced code blocks in ``languages``."""
    pattern = r"^```(" + "|".join(languages) + r")\n(.*?)^```"
    return [m.group(2) for m in re.finditer(pattern, text, flags=re.M | re.S)]


def console_commands(text: str) -> list[tuple[str, int]]:
    """Each ``$ stations ...`` line of the console blocks, with the exit code its comment gives
    (``# exit 1: ...``; 0 when it says none)."""
    found = []
    for block in code_blocks(text, "console"):
        for line in block.splitlines():
            if line.startswith("$ stations "):
                command, _, comment = line[2:].partition("#")
                code = re.match(r"\s*exit (\d+)", comment)
                found.append((command.strip(), int(code.group(1)) if code else 0))
    return found


def shown_commands(text: str) -> list[str]:
    """Every ``stations ...`` command the text shows: inline code and shell lines of blocks."""
    spans = [s.replace("\\|", "|") for s in re.findall(r"`([^`\n]+)`", text)]
    for block in code_blocks(text, "console", "bash", "shell", "sh"):
        spans += [line.removeprefix("$ ") for line in block.splitlines()]
    commands = []
    for span in spans:
        m = re.search(r"(?:^|&& |\.venv/bin/)(stations (?:[a-z][\w-]*)(?:[^#]*))", span.strip())
        if m:
            commands.append(m.group(1).strip())
    return commands


def _resolve(words: list[str]) -> tuple[Any, str]:
    group: Any = get_command(app)
    command, path = group, ["stations"]
    for word in words:
        subcommands = getattr(command, "commands", None)
        if not subcommands or word not in subcommands:
            break
        command = subcommands[word]
        path.append(word)
    return command, " ".join(path)


def test_every_setting_named_in_the_readme_and_docs_exists():
    texts = {"README.md": README, **DOCS}
    unknown = {
        f"{name}: {var}"
        for name, text in texts.items()
        for var in re.findall(r"\bSTATIONS_[A-Z0-9_]*[A-Z0-9]\b", text)
        if var not in SETTINGS | TEST_ONLY
    }
    assert not unknown, sorted(unknown)


def test_every_setting_is_in_the_readme_settings_table():
    section = README.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `(STATIONS_[A-Z0-9_]+)` \|", section, flags=re.M))
    assert rows == SETTINGS, {"undocumented": SETTINGS - rows, "unknown": rows - SETTINGS}


def test_every_command_and_flag_the_readme_shows_exists():
    shown = shown_commands(README)
    assert len(shown) >= 20  # the parser found the table and the console blocks
    problems = []
    for line in shown:
        words = line.split()[1:]
        command, path = _resolve([w for w in words if not w.startswith(("-", "["))][:2])
        if path == "stations":
            problems.append(f"{line!r}: no such command")
            continue
        options = {o for p in command.params for o in [*p.opts, *p.secondary_opts]}
        flags = re.findall(r"(?<![\w/.-])(--?[a-z][a-z0-9-]*)", line)
        problems += [f"{line!r}: {path} has no {flag}" for flag in flags if flag not in options]
    assert not problems, problems


def test_the_parsers_see_what_is_there():
    assert ("stations nearest --lon 1 --lat 2", 0) in console_commands(
        "```console\n$ stations nearest --lon 1 --lat 2   # a comment\n```\n"
    )
    assert console_commands("```console\n$ stations x   # exit 2: why\n```\n") == [
        ("stations x", 2)
    ]
    assert shown_commands("run `stations info --json` or `.venv/bin/stations map -o x`") == [
        "stations info --json",
        "stations map -o x",
    ]
    command, path = _resolve(["loop", "import"])
    assert path == "stations loop import" and "--max-gap-m" in command.params[1].opts


@pytest.fixture(scope="module")
def data_copy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    shutil.copy(BUNDLED_STATIONS, folder / "stations.geojson")
    shutil.copy(BUNDLED_LOOP, folder / "loop178.geojson")
    return folder


COMMANDS = console_commands(README)


def test_the_readme_shows_console_commands():
    assert len(COMMANDS) >= 8


@pytest.mark.parametrize(("command", "code"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_readme_console_command_runs_as_written(command, code, data_copy, monkeypatch):
    """Run in order (pytest keeps the README's order), in one folder with a copy of the
    bundled data, so `export office.csv` then `import office.csv` work as a reader would."""
    monkeypatch.chdir(data_copy)
    env = {
        "STATIONS_STATIONS_PATH": str(data_copy / "stations.geojson"),
        "STATIONS_LOOP_PATH": str(data_copy / "loop178.geojson"),
    }
    result = CliRunner().invoke(app, shlex.split(command)[1:], env=env)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output


#: Options the README documents once for every command, below the table (*Data files*).
SHARED_OPTIONS = {"--stations", "--loop", "--help"}


def table_rows(text: str) -> dict[str, str]:
    """The command table's rows: the command's path (``stations db import``) -> its cell."""
    rows = {}
    for cell in re.findall(r"^\| `(stations [^`]+)` \|", text, flags=re.M):
        words = [w for w in cell.replace("\\|", "|").split() if not w.startswith(("-", "["))]
        _, path = _resolve(words[1:3])
        rows[path] = cell
    return rows


def test_every_option_of_a_documented_command_is_in_its_table_row():
    """What `stations X --help` lists, the README's row for X shows (or says below it)."""
    rows = table_rows(README)
    assert len(rows) >= 14
    missing = []
    for path, cell in rows.items():
        command, _ = _resolve(path.split()[1:])
        for param in command.params:
            names = [*param.opts, *param.secondary_opts]
            if param.param_type_name != "option" or SHARED_OPTIONS & set(names):
                continue
            if not any(re.search(re.escape(n) + r"(?![\w-])", cell) for n in names):
                missing.append(f"{path}: {'/'.join(names)}")
    assert not missing, missing
