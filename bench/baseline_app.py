"""The latency baseline: a minimal Bolt app on the bot's own server, acking fixed text.

`python -m bench.baseline_app --port 0 --workers N [--process-before-response]` serves it
on gunicorn with `bot.web.prefork.server_config`, the settings of `simsid-bot serve`
(gthread, the same threads per worker, the same number of worker processes), and prints
the same "listening on" line, so the bench drives it exactly like the bot. Whatever the
bot's answers cost above this is the bot's own work. With `--process-before-response`
Bolt runs the listener before answering, with no hand-off to a thread (Bolt's mode for
FaaS), the fastest a Bolt answer gets.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.web.prefork import HTTP_THREADS, server_config


def build(process_before_response: bool) -> App:
    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
        token_verification_enabled=False,
        process_before_response=process_before_response,
    )

    @app.command("/simsid")
    def command(ack) -> None:  # type: ignore[no-untyped-def]
        ack(text="ok", response_type="ephemeral")

    @app.action(re.compile(".*"))
    def action(ack) -> None:  # type: ignore[no-untyped-def]
        ack()

    return app


class Baseline(BaseApplication):  # type: ignore[misc]
    def __init__(self, port: int, workers: int, process_before_response: bool) -> None:
        self._settings = server_config("127.0.0.1", port, workers, HTTP_THREADS)
        self._pbr = process_before_response
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._settings.items():
            self.cfg.set(key, value)
        self.cfg.set("when_ready", _listening)

    def load(self) -> Any:
        return SlackRequestHandler(build(self._pbr))  # per worker, after the fork


def _listening(arbiter: Any) -> None:
    host, port = arbiter.LISTENERS[0].sock.getsockname()[:2]
    print(f"baseline listening on http://{host}:{port}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--process-before-response", action="store_true")
    args = parser.parse_args()
    Baseline(args.port, args.workers, args.process_before_response).run()


if __name__ == "__main__":
    main()
