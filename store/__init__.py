"""Persistence and the rules of the domain; knows nothing of Slack."""
