"""Doctor's checks of Slack: the bot token, the Socket Mode app token, channel membership.

Only read-only Web API methods are called (auth.test, apps.connections.open, which merely
hands out a WebSocket URL, and conversations.info); nothing is posted.
"""

from __future__ import annotations

from collections.abc import Iterator

from dsr_bot.cli.doctor.findings import TIMEOUT, Finding, fail, ok, skip
from dsr_bot.config import Settings, env_name


# -- Slack ----------------------------------------------------------------------------------
def check_slack(settings: Settings) -> Iterator[Finding]:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    s = settings
    if s.slack_bot_token is None:
        yield skip("Slack", f"not configured ({env_name('slack_bot_token')} is not set)")
        return
    base = s.slack_api_url or "https://slack.com/api/"
    base = base if base.endswith("/") else base + "/"
    client = WebClient(token=s.slack_bot_token.get_secret_value(), base_url=base, timeout=TIMEOUT)
    reinstall = "reinstall the app from deploy/slack-app-manifest.yml and copy the new token"
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        yield fail(
            "Slack auth",
            f"auth.test: {exc.response.get('error')}",
            f"{reinstall} into {env_name('slack_bot_token')}",
        )
        return
    except OSError as exc:
        yield fail(
            "Slack auth",
            f"cannot reach {base}: {type(exc).__name__}",
            "allow HTTPS to slack.com (proxy, firewall)",
        )
        return
    yield ok("Slack auth", f"bot {auth.get('user')!r} in workspace {auth.get('team')!r}")
    if s.slack_mode == "socket":
        if s.slack_app_token is None:
            yield fail(
                "Slack socket mode",
                f"{env_name('slack_app_token')} is not set",
                "create an app-level token (xapp-…) with connections:write",
            )
        else:
            try:
                client.apps_connections_open(app_token=s.slack_app_token.get_secret_value())
                yield ok("Slack socket mode", "app token accepted")
            except SlackApiError as exc:
                yield fail(
                    "Slack socket mode",
                    f"apps.connections.open: {exc.response.get('error')}",
                    f"check {env_name('slack_app_token')} (xapp-…, scope connections:write)",
                )
    elif s.slack_signing_secret is None:
        yield fail(
            "Slack HTTP mode",
            f"{env_name('slack_signing_secret')} is not set",
            "copy the signing secret from the app's Basic Information page",
        )
    if not s.slack_channel:
        yield fail(
            "Slack channel",
            f"{env_name('slack_channel')} is not set",
            "set it to the channel ID (C…) where cases are posted",
        )
        return
    try:
        channel = client.conversations_info(channel=s.slack_channel)["channel"]
    except SlackApiError as exc:
        error = exc.response.get("error")
        fix = (
            f"use the channel ID (C…) in {env_name('slack_channel')}; "
            "for a private channel invite the bot first"
        )
        if error == "missing_scope":
            fix = reinstall
        yield fail("Slack channel", f"conversations.info: {error}", fix)
        return
    name = f"#{channel.get('name', s.slack_channel)}"
    if not channel.get("is_member"):
        yield fail(
            "Slack channel",
            f"the bot is not a member of {name}",
            f"in Slack, type `/invite @{auth.get('user')}` in {name}",
        )
        return
    yield ok("Slack channel", f"member of {name}")
