"""scripts/image-test's checks: the built image run as deploy/compose.yaml runs it.

Run by scripts/image-test (which builds the image and starts PostgreSQL) with the
project's venv Python. Every container runs with host networking, so the bot reaches
PostgreSQL and the Slack stand-in on 127.0.0.1 and this script reaches the bot there.
Each check prints `ok:` or `FAILED:`; the first failure stops the run with exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # type: ignore[import-untyped]  # noqa: E402  (no stubs installed)
from cryptography.fernet import Fernet  # noqa: E402

from bot.cli.main import _parser  # noqa: E402
from bot.sandbox.fake_slack import FakeSlack  # noqa: E402
from testing import signed  # noqa: E402

CHANNEL = "C0IMAGETEST"
SITE = "Image Test Primary"
WORKERS = 2
STOP_SECONDS = 20  # serve lets in-flight requests finish for 10 s, then stops its workers


class CheckFailed(Exception):
    """One check did not hold; the message says which and why."""


def ok(what: str) -> None:
    print(f"ok: {what}", flush=True)


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run podman; a failure (when `check`) is a failed check naming the command."""
    result = subprocess.run(  # noqa: S603  (podman with this script's own arguments)
        ["podman", *args],  # noqa: S607  (podman from PATH, as the shell script runs it)
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise CheckFailed(
            f"podman {' '.join(args[:3])} exited {result.returncode}:\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http(
    method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(  # noqa: S310  (http://127.0.0.1 built above)
        url, data=body if method == "POST" else None, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (loopback)
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def wait_until(what: str, predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise CheckFailed(f"{what}: not within {timeout:.0f} s")


def serves_metrics() -> bool:
    """Whether this release serves /metrics: it depends on prometheus_client."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return any(re.match(r"prometheus[-_]client\b", d) for d in project["dependencies"])


def compose_commands(path: Path) -> dict[str, list[str]]:
    """The command of each bot service in compose.yaml, each checked against the CLI."""
    services = yaml.safe_load(path.read_text())["services"]
    commands: dict[str, list[str]] = {}
    for name in ("migrate", "web", "worker"):
        command = services[name]["command"]
        if command[0] != "simsid-bot":
            raise CheckFailed(f"{path.name}: {name} runs {command[0]!r}, not simsid-bot")
        try:
            _parser().parse_args(command[1:])
        except SystemExit:
            raise CheckFailed(
                f"{path.name}: {name}'s command {command} is not one the CLI takes"
            ) from None
        commands[name] = command
    if services["migrate"]["command"][1:] != ["db", "upgrade"]:
        raise CheckFailed(f"{path.name}: migrate does not run `simsid-bot db upgrade`")
    for name in ("web", "worker"):
        after = services[name].get("depends_on", {}).get("migrate", {}).get("condition")
        if after != "service_completed_successfully":
            raise CheckFailed(f"{path.name}: {name} does not wait for migrate to complete")
    return commands


class Run:
    """The containers this run started, removed at the end whatever happened."""

    def __init__(self, image: str, env_file: Path, tag: str) -> None:
        self.image = image
        self.env_file = env_file
        self.tag = tag
        self.names: list[str] = []

    def start(self, role: str, *command: str, env: dict[str, str] | None = None) -> str:
        name = f"{self.tag}-{role}"
        self.names.append(name)
        extra = [a for k, v in (env or {}).items() for a in ("--env", f"{k}={v}")]
        podman(
            "run", "--detach", "--name", name, "--network", "host",
            "--env-file", str(self.env_file), *extra, self.image, *command,
        )  # fmt: skip
        return name

    def once(self, *command: str) -> str:
        result = podman(
            "run", "--rm", "--network", "host", "--no-healthcheck",
            "--env-file", str(self.env_file), self.image, *command, timeout=180,
        )  # fmt: skip
        return result.stdout + result.stderr

    def running(self, name: str) -> bool:
        state = podman("inspect", "--format", "{{.State.Running}}", name, check=False)
        return state.stdout.strip() == "true"

    def logs(self, name: str) -> str:
        result = podman("logs", name, check=False)
        return result.stdout + result.stderr

    def stop(self, name: str) -> int:
        """SIGTERM and wait; the container's exit code."""
        podman("stop", "--time", str(STOP_SECONDS), name, timeout=STOP_SECONDS + 30)
        code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        return int(code)

    def remove_all(self) -> None:
        for name in self.names:
            podman("rm", "--force", "--time", "2", name, check=False, timeout=60)


def install_body(event_id: str) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "installation.created",
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "application": {"id": "app-image-test", "name": "Image Test"},
            "site": {"id": "site-image-test", "name": SITE, "urn": "100001"},
        }
    ).encode()


def check(image: str, database_url: str, compose: Path, tag: str) -> None:
    commands = compose_commands(compose)
    ok(f"{compose.name}: migrate, web and worker run commands the CLI takes, in that order")

    info = json.loads(podman("image", "inspect", image).stdout)[0]
    config = info.get("Config") or {}
    if config.get("Cmd") != ["simsid-bot", "serve"]:
        raise CheckFailed(f"the image's command is {config.get('Cmd')}, not simsid-bot serve")
    if config.get("User") in (None, "", "root", "0"):
        raise CheckFailed("the image runs as root")
    if not (info.get("Healthcheck") or {}).get("Test"):
        raise CheckFailed("the image has no HEALTHCHECK (build with --format docker)")
    ok(f"image: runs `simsid-bot serve` as {config['User']}, with a HEALTHCHECK")

    fake = FakeSlack().start()
    signing_secret = secrets.token_hex(16)
    webhook_secret = secrets.token_hex(16)
    key = Fernet.generate_key().decode()
    port = free_port()
    settings = {
        "SLACK_BOT_TOKEN": "xoxb-test",  # the stand-in's token
        "SLACK_SIGNING_SECRET": signing_secret,
        "SLACK_API_URL": fake.api_url,
        "DATABASE_URL": database_url,
        "SIMSID_ENCRYPTION_KEYS": key,
        "SIMSID_WEBHOOK_SECRET": webhook_secret,
        "SIMSID_ADMINS": "UADMIN1",
        "SIMSID_DEFAULT_CHANNEL": CHANNEL,
        "SIMSID_DIGEST_CRON": "0 0 29 2 *",  # never during a run: no digest among the posts
        "WEB_CONCURRENCY": str(WORKERS),
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
    }
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "simsid.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        env_file.chmod(0o600)
        run = Run(image, env_file, tag)
        try:
            _run_services(run, commands, fake, port, webhook_secret)
        finally:
            logs = {name: run.logs(name) for name in run.names}
            run.remove_all()
            fake.stop()
    for name, text in logs.items():
        for secret in (signing_secret, webhook_secret, key):
            if secret in text:
                raise CheckFailed(f"{name}'s log shows a secret")
    ok("no secret in any container's log")


def _run_services(
    run: Run, commands: dict[str, list[str]], fake: FakeSlack, port: int, webhook_secret: str
) -> None:
    out = run.once(*commands["migrate"])
    ok(f"migrate: `{' '.join(commands['migrate'])}` exited 0 ({out.strip().splitlines()[-1:]})")

    web = run.start("web")  # the image's own command: `simsid-bot serve`
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if not run.running(web):
            raise CheckFailed(f"web exited before it answered:\n{run.logs(web)[-3000:]}")
        try:
            return http("GET", f"{base}/healthz")[0] == 200
        except OSError:
            return False

    wait_until("web: GET /healthz 200", healthy, timeout=90)
    ok(f"web: `simsid-bot serve` answers GET /healthz 200 on PORT={port}")

    processes = podman("top", web, "user", "args").stdout.strip().splitlines()[1:]
    bots = [line for line in processes if "simsid-bot" in line]
    if len(bots) != 1 + WORKERS:
        raise CheckFailed(f"web: {len(bots)} simsid-bot processes, not 1 + {WORKERS}:\n{processes}")
    if any(line.split()[0] in ("root", "0") for line in bots):
        raise CheckFailed(f"web: a process runs as root:\n{processes}")
    ok(f"web: WEB_CONCURRENCY={WORKERS} gives a master and {WORKERS} workers, none root")

    health = podman("healthcheck", "run", web, check=False)
    if health.returncode != 0:
        raise CheckFailed(f"web: the image's HEALTHCHECK failed: {health.stdout}{health.stderr}")
    ok("web: the image's HEALTHCHECK passes")

    event_id = f"evt_image_{time.time_ns()}"
    body = install_body(event_id)
    status, answer = http(
        "POST", f"{base}/simsid/events", body, signed.webhook_headers(body, secret=webhook_secret)
    )
    if status != 202:
        raise CheckFailed(f"web: the signed install webhook got {status}: {answer[:300]!r}")
    ok("web: a signed install webhook is accepted (202)")

    def posted() -> bool:
        return any(SITE in json.dumps(m) for m in fake.channel_messages(CHANNEL))

    wait_until(f"the install message in {CHANNEL} at the Slack stand-in", posted, timeout=60)
    ok(f"web: the install message was posted to {CHANNEL} at the Slack stand-in")

    status, answer = http("GET", f"{base}/healthz")
    if status != 200 or json.loads(answer).get("status") != "ok":
        raise CheckFailed(f"web: GET /healthz after the install: {status} {answer[:300]!r}")
    ok("web: GET /healthz 200 after the install")

    status, answer = http("GET", f"{base}/metrics")
    if serves_metrics():
        if status != 200 or b"# TYPE" not in answer:
            raise CheckFailed(f"web: GET /metrics from loopback: {status} {answer[:300]!r}")
        ok("web: GET /metrics answers in Prometheus' text format")
    else:
        print(f"note: no prometheus_client among the dependencies: /metrics ({status}) not checked")

    worker = run.start("worker", *commands["worker"])
    wait_until(
        "worker: `simsid-bot worker running`",
        lambda: "simsid-bot worker running" in run.logs(worker) or not run.running(worker),
        timeout=60,
    )
    if not run.running(worker):
        raise CheckFailed(f"worker exited at start:\n{run.logs(worker)[-3000:]}")
    ok(f"worker: `{' '.join(commands['worker'])}` runs beside web")

    for name, role in ((worker, "worker"), (web, "web")):
        code = run.stop(name)
        if code != 0:
            raise CheckFailed(f"{role}: exited {code} on SIGTERM:\n{run.logs(name)[-3000:]}")
        ok(f"{role}: stopped by SIGTERM, exit 0")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--compose", type=Path, default=ROOT / "deploy" / "compose.yaml")
    parser.add_argument("--tag", default=f"simsid-image-test-{os.getpid()}", help="names' prefix")
    args = parser.parse_args(argv)
    try:
        check(args.image, args.database_url, args.compose, args.tag)
    except (CheckFailed, subprocess.TimeoutExpired) as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
