"""The latency baseline: a minimal Bolt app on the bot's own server stack, acking fixed text.

`python -m bench.baseline_app --port 0` serves it through `bot.web.server.serve_http`
(waitress, same threads and limits as `simsid-bot serve`) and prints the same
"listening on" line, so the bench drives it exactly like the bot. Whatever the bot's
answers cost above this is the bot's own work.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import threading

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.web.server import serve_http


def build() -> App:
    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
        token_verification_enabled=False,
    )

    @app.command("/simsid")
    def command(ack) -> None:  # type: ignore[no-untyped-def]
        ack(text="ok", response_type="ephemeral")

    @app.action(re.compile(".*"))
    def action(ack) -> None:  # type: ignore[no-untyped-def]
        ack()

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    handler = SlackRequestHandler(build())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serve_http(
        handler,
        host="127.0.0.1",
        port=args.port,
        stop=stop,
        on_listening=lambda h, p: print(f"baseline listening on http://{h}:{p}", flush=True),
    )


if __name__ == "__main__":
    main()
