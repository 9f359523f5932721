"""`python -m bot`: the same command line as `simsid-bot`."""

from bot.cli import main

raise SystemExit(main())
