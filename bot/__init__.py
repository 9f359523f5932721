"""simsid-bot: approve SIMS ID installations from Slack."""
