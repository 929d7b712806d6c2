"""The README documents every command; --help works; nothing opens a network connection."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from memlane.main import cli  # the full program: engine commands and `gui`

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _commands() -> list[str]:
    return sorted(cli.commands)  # type: ignore[attr-defined]


def _sections() -> dict[str, str]:
    """Each command's own README section: from a heading naming ``memlane NAME`` to the next."""
    out: dict[str, str] = {}
    parts = re.split(r"(?m)^(?=#{2,3} )", README)
    for part in parts:
        heading = part.split("\n", 1)[0]
        for name in re.findall(r"`memlane ([a-z][a-z-]*)", heading):
            out[name] = out.get(name, "") + part
    return out


def test_readme_starts_with_the_two_commands() -> None:
    head = "\n".join(README.splitlines()[:15])
    assert "make run" in head and "make test" in head


@pytest.mark.parametrize("name", _commands())
def test_every_command_has_help_and_is_documented(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    section = _sections().get(name)
    assert section, f"README has no section headed `memlane {name}`"
    command = cli.commands[name]  # type: ignore[attr-defined]
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        for opt in param.opts:
            if opt.startswith("--") and opt != "--help":
                assert re.search(rf"{re.escape(opt)}\b", section), \
                    f"README's section on memlane {name} does not mention {opt}"


def test_sockets_are_blocked_in_tests() -> None:
    from pytest_socket import SocketBlockedError

    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_chroma_telemetry_is_off(engine) -> None:  # type: ignore[no-untyped-def]
    settings = engine.index._client.get_settings()
    assert settings.anonymized_telemetry is False


def test_help_lists_every_command_without_cutting_its_description() -> None:
    from click.testing import CliRunner

    from memlane.main import cli

    out = CliRunner().invoke(cli, ["--help"], terminal_width=80).output
    commands = out.split("Commands:", 1)[1]
    assert "..." not in commands
    assert "Serve your memory to other AI assistants on this machine" in commands
    assert all(len(line) <= 80 for line in out.splitlines())
