"""An admin user group Slack says is gone, or may not be read, grants nothing.

Only a transport failure or a rate limit may fall back on the cached members, and for at
most STALE_SECONDS. Admins is built as create_app builds it, with a real WebClient
pointed at the Slack stand-in and a fake clock.
"""

from __future__ import annotations

import logging

import pytest
from slack_sdk import WebClient

from bot.sandbox.fake_slack import FakeSlack
from bot.slack.admins import CACHE_SECONDS, STALE_SECONDS, Admins
from tests.harness import OTHER_ADMIN


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _warm(fake_slack: FakeSlack) -> tuple[Admins, FakeClock]:
    clock = FakeClock()
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url, timeout=2)
    admins = Admins(frozenset(), ("SADMINS",), client, clock=clock)
    assert admins.is_admin(OTHER_ADMIN)  # cached from here on
    clock.now += CACHE_SECONDS + 1  # the next question goes to Slack
    return admins, clock


def test_a_deleted_group_stops_granting_at_once(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    admins, _ = _warm(fake_slack)
    del fake_slack.usergroups["SADMINS"]  # Slack now answers no_such_subteam
    caplog.set_level(logging.WARNING)
    assert not admins.is_admin(OTHER_ADMIN)
    assert "no_such_subteam" in caplog.text and "SADMINS" in caplog.text


def test_a_token_that_may_no_longer_read_the_group_grants_nothing(
    fake_slack: FakeSlack,
) -> None:
    admins, _ = _warm(fake_slack)
    fake_slack.token = "xoxb-rotated"  # Slack answers invalid_auth to the old token
    assert not admins.is_admin(OTHER_ADMIN)


@pytest.mark.parametrize("error", ["missing_scope", "invalid_auth", "account_inactive"])
def test_any_definitive_error_means_no_members(fake_slack: FakeSlack, error: str) -> None:
    admins, _ = _warm(fake_slack)
    fake_slack.fail_next(1, status=200, method="usergroups.users.list", error=error)
    assert not admins.is_admin(OTHER_ADMIN)


def test_rate_limit_uses_the_cache(fake_slack: FakeSlack) -> None:
    admins, _ = _warm(fake_slack)
    fake_slack.rate_limit_next(1, method="usergroups.users.list")
    assert admins.is_admin(OTHER_ADMIN)


def test_transport_failure_uses_the_cache_for_at_most_fifteen_minutes(
    fake_slack: FakeSlack,
) -> None:
    admins, clock = _warm(fake_slack)
    assert STALE_SECONDS == 15 * 60
    fake_slack.refuse_connections()
    try:
        assert admins.is_admin(OTHER_ADMIN)  # Slack unreachable: the cache serves
        clock.now = 1000.0 + STALE_SECONDS - 1
        assert admins.is_admin(OTHER_ADMIN)
        clock.now = 1000.0 + STALE_SECONDS + 1  # 15 minutes since Slack last answered
        assert not admins.is_admin(OTHER_ADMIN)
    finally:
        fake_slack.accept_connections()
    assert admins.is_admin(OTHER_ADMIN)  # Slack answers again


def test_known_answers_without_slack_only_while_the_cache_is_fresh(
    fake_slack: FakeSlack,
) -> None:
    clock = FakeClock()
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url, timeout=2)
    admins = Admins(frozenset({"UCONFIGURED"}), ("SADMINS",), client, clock=clock)
    assert admins.known("UCONFIGURED") is True
    assert admins.known("") is False
    assert admins.known(OTHER_ADMIN) is None  # the group was never read: ask Slack
    assert admins.is_admin(OTHER_ADMIN)
    asked = [m for m, _ in fake_slack.calls].count("usergroups.users.list")
    assert admins.known(OTHER_ADMIN) is True
    assert admins.known("USTRANGER") is False
    # Answered from the cache, without asking Slack.
    assert [m for m, _ in fake_slack.calls].count("usergroups.users.list") == asked
    clock.now += CACHE_SECONDS
    assert admins.known(OTHER_ADMIN) is None  # stale: is_admin asks Slack again
    assert admins.known("USTRANGER") is None


def test_still_admin_asks_slack_afresh_and_says_when_it_cannot_tell(
    fake_slack: FakeSlack,
) -> None:
    """A removal's requester is re-checked at confirmation with still_admin: a member who
    left the group a second ago is no longer an admin, cache or not; while Slack cannot
    be asked, the usual stale fallback holds, and with none the answer is "unknown"
    (None), never a guess."""
    clock = FakeClock()
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url, timeout=2)
    admins = Admins(frozenset({"U0LISTED"}), ("SADMINS",), client, clock=clock)
    assert admins.is_admin(OTHER_ADMIN)
    fake_slack.usergroups["SADMINS"] = []
    assert admins.is_admin(OTHER_ADMIN)  # the cached answer, for up to CACHE_SECONDS
    assert admins.still_admin(OTHER_ADMIN) is False
    fake_slack.usergroups["SADMINS"] = [OTHER_ADMIN]
    assert admins.still_admin(OTHER_ADMIN) is True
    assert admins.still_admin("U0LISTED") is True and admins.still_admin("") is False
    fake_slack.refuse_connections()
    try:
        assert admins.still_admin(OTHER_ADMIN) is True  # Slack unreachable: the cache
        clock.now += STALE_SECONDS + 1
        assert admins.still_admin(OTHER_ADMIN) is None  # nothing recent to stand in
        assert not admins.is_admin(OTHER_ADMIN)  # which the admin check refuses
    finally:
        fake_slack.accept_connections()
