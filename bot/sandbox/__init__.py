"""Local stand-ins for Slack, for tests, benchmarks and the browser sandbox."""
