"""`python -m bot`: the same command line as `simsid-bot`."""

from bot.cli.main import main

raise SystemExit(main())
