"""deploy/: the compose file and its settings file agree with the bot's CLI and settings.

scripts/image-test runs the image itself (CI); these checks need no container.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.cli.main import _parser
from bot.config import Settings, SettingsError, load_settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
# Read by compose itself (interpolation), not by the bot.
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "SIMSID_HTTP_PORT"}
# Set by compose.yaml for the bot's services: one in deploy/.env would be overridden.
SET_BY_COMPOSE = {"DATABASE_URL", "PORT"}


def _example_names() -> list[str]:
    lines = (DEPLOY / "env.example").read_text().splitlines()
    return [m.group(1) for line in lines if (m := re.match(r"^([A-Z0-9_]+)=", line))]


def test_env_example_names_only_settings_the_bot_or_compose_reads() -> None:
    names = _example_names()
    known = {field.upper() for field in Settings.model_fields} | COMPOSE_ONLY
    assert set(names) <= known - SET_BY_COMPOSE
    assert len(names) == len(set(names))


@pytest.mark.parametrize("purpose", ["serve", "worker"])
def test_env_example_has_every_setting_web_and_worker_need(
    purpose: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for field in Settings.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    with pytest.raises(SettingsError) as refused:
        load_settings(purpose, _env_file=None)  # type: ignore[arg-type]
    needed = set(refused.value.problems)
    assert needed  # what an empty environment lacks: the example must name each
    assert needed <= set(_example_names())


def test_compose_runs_migrate_once_before_web_and_worker() -> None:
    services = COMPOSE["services"]
    assert services["migrate"]["command"] == ["simsid-bot", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        after = services[name]["depends_on"]
        assert after == {"migrate": {"condition": "service_completed_successfully"}}


@pytest.mark.parametrize("name", ["migrate", "web", "worker"])
def test_compose_services_run_commands_the_cli_takes(name: str) -> None:
    service = COMPOSE["services"][name]
    command = service["command"]
    assert command[0] == "simsid-bot"
    _parser().parse_args(command[1:])  # exits 2 on a command or option it does not know
    assert service["env_file"] == ".env"
    assert set(service["environment"]) >= {"DATABASE_URL"}
    # Only web serves HTTP: the image's HEALTHCHECK would mark the others unhealthy.
    assert service.get("healthcheck", {}).get("disable", False) is (name != "web")
