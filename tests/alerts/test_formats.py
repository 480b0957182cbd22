"""Webhook bodies (pure: built from unsaved alerts) and their signatures."""

import json
import time
import uuid
from datetime import UTC, datetime

import pytest

from alerts import formats, signing
from alerts.masking import mask_destination
from alerts.models import Alert
from servers.models import Server


def alert(**fields) -> Alert:
    fields.setdefault("type", "server_crashed")
    fields.setdefault("severity", "critical")
    fields.setdefault("title", "survival crashed")
    fields.setdefault("message", "survival crashed (exit code 1).")
    fields.setdefault("metadata", {"exitCode": 1, "oom": False})
    return Alert(id=uuid.uuid4(), created_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC), **fields)


@pytest.mark.parametrize(
    ("url", "requested", "expected"),
    [
        ("https://discord.com/api/webhooks/1/abc", "auto", "discord"),
        ("https://discordapp.com/api/webhooks/1/abc", None, "discord"),
        ("https://discord.com/channels/1", "auto", "json"),  # not a webhook URL
        ("https://hooks.slack.com/services/T/B/x", "auto", "slack"),
        ("https://example.com/hook", "auto", "json"),
        ("https://example.com/hook", "discord", "discord"),  # the setting decides
        ("https://hooks.slack.com/services/T/B/x", "json", "json"),
    ],
)
def test_the_format_is_picked_by_url_or_setting(url, requested, expected):
    assert formats.resolve(url, requested) == expected


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="Unknown webhook format 'xml'"):
        formats.resolve("https://example.com/", "xml")


def test_discord_shape_within_its_limits_and_without_mentions():
    long = alert(
        title="@everyone " + "T" * 500,
        message="<@123> " + "m" * 10_000,
        metadata={f"k{i}": i for i in range(40)},
    )
    data = json.loads(formats.body(long, "discord", "d1"))
    assert set(data) == {"content", "embeds", "allowed_mentions"}
    assert data["allowed_mentions"] == {"parse": []}  # "@everyone" in a server's name pings no one
    embed = data["embeds"][0]
    assert len(data["content"]) <= 2000 and len(embed["title"]) == 256 and embed["title"].endswith("…")
    assert len(embed["description"]) <= 4096
    assert len(embed["fields"]) <= 25
    assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in embed["fields"])
    size = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    assert size + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"]) <= 6000
    assert embed["color"] == formats.COLORS["critical"] and embed["timestamp"].startswith("2026-12-01T12:00")

    small = json.loads(formats.body(alert(severity="info"), "discord", "d1"))["embeds"][0]
    assert small["color"] == formats.COLORS["info"]
    assert {"name": "exitCode", "value": "1", "inline": True} in small["fields"]


def test_slack_shape_escapes_its_markup():
    data = json.loads(
        formats.body(alert(title="<!channel> a & b", message="<https://evil|click>"), "slack", "d1")
    )
    assert set(data) == {"text", "blocks"}
    assert "&lt;!channel&gt; a &amp; b" in data["text"] and "<!channel>" not in data["text"]
    section = data["blocks"][1]["text"]
    assert section == {"type": "mrkdwn", "text": "&lt;https://evil|click&gt;"}
    assert data["blocks"][0]["type"] == "header" and len(data["blocks"][0]["text"]["text"]) <= 150
    assert len(data["blocks"][2]["fields"]) <= 10


def test_generic_json_names_the_event_alert_and_delivery():
    a = alert()
    data = json.loads(formats.body(a, "json", "d-1"))
    assert data == {
        "event": "alert.created",
        "alert": {
            "id": str(a.pk),
            "type": "server_crashed",
            "severity": "critical",
            "title": "survival crashed",
            "message": "survival crashed (exit code 1).",
            "metadata": {"exitCode": 1, "oom": False},
            "serverId": None,
            "nodeId": None,
            "createdAt": "2026-12-01T12:00:00+00:00",
        },
        "deliveryId": "d-1",
    }
    assert json.loads(formats.body(alert(metadata={"test": True}), "json", "x"))["event"] == "alert.test"


def test_a_signature_verifies_and_fails_for_any_change():
    body, now = b'{"event":"alert.created"}', int(time.time())
    headers = signing.sign("s3cret", body, now)
    ts, sig = headers["X-Hearth-Timestamp"], headers["X-Hearth-Signature"]
    assert ts == str(now) and sig.startswith("sha256=") and len(sig) == 7 + 64
    assert signing.verify("s3cret", body, ts, sig)
    assert not signing.verify("s3cret", body + b" ", ts, sig)  # changed body
    assert not signing.verify("s3cret", body, str(now + 1), sig)  # changed timestamp
    assert not signing.verify("other", body, ts, sig)  # another secret
    assert not signing.verify("s3cret", body, "soon", sig) and not signing.verify("s3cret", body, ts, "abc")
    old = signing.sign("s3cret", body, now - 301)
    assert not signing.verify("s3cret", body, old["X-Hearth-Timestamp"], old["X-Hearth-Signature"])  # too old
    assert signing.verify("s3cret", body, old["X-Hearth-Timestamp"], old["X-Hearth-Signature"], tolerance=600)


@pytest.mark.parametrize(
    ("destination", "shown"),
    [
        ("https://discord.com/api/webhooks/123/SeCrEtToKeNabcd", "https://discord.com/…abcd"),
        ("https://hooks.slack.com/services/T0/B0/xyz9", "https://hooks.slack.com/…xyz9"),
        ("http://[::1]:8080/", "http://[::1]:8080/"),
        ("ops@example.com", "o***@example.com"),
    ],
)
def test_destinations_are_masked(destination, shown):
    assert mask_destination(destination) == shown


def test_discord_markdown_in_user_text_is_shown_as_text():
    phish = "[Re-verify your login](https://evil.example)"
    a = alert(title=f"{phish} crashed", message=f"<@123> <#456> **{phish}** @everyone # big")
    a.server = Server(id=uuid.uuid4(), name=phish)  # unsaved: formats read only its name
    data = json.loads(formats.body(a, "discord", "d1"))
    embed = data["embeds"][0]
    escaped = r"\[Re-verify your login\]\(https://evil.example\)"
    assert escaped in data["content"] and escaped in embed["title"] and escaped in embed["description"]
    assert {"name": "Server", "value": escaped, "inline": True} in embed["fields"]
    assert r"\<@" in embed["description"] and r"\<\#456" in embed["description"]
    assert r"\*\*" in embed["description"] and r"\# big" in embed["description"]
    assert "@everyone" not in embed["description"] and "@\u200beveryone" in embed["description"]
    for text in (data["content"], embed["title"], embed["description"]):
        assert "[Re-verify your login](" not in text
    assert data["content"].startswith("🚨 **CRITICAL**: ")  # Hearth's own emphasis stays


def test_the_email_subject_holds_no_line_break_of_any_kind():
    subject, _ = formats.email(alert(title="a\rb\nc\u2028d\x85e\x0bf\x1cg"))
    assert subject == "[Hearth] CRITICAL: a b c d e f g"
    assert subject.splitlines() == [subject]


def test_verify_is_false_for_a_non_ascii_signature():
    body, now = b"{}", int(time.time())
    assert not signing.verify("s3cret", body, str(now), "sha256=\u00e9" * 3)
    assert not signing.verify("s3cret", body, str(now), "sha256=\udcff")


def test_the_signed_body_carries_the_delivery_id_and_event_receivers_trust():
    """The headers X-Hearth-Delivery/-Event are not signed: receivers dedupe on the body's deliveryId
    and trust the body's event, which a replay cannot change without breaking the signature."""
    body = formats.body(alert(), "json", "delivery-1")
    headers = signing.sign("s3cret", body)
    ts, sig = headers["X-Hearth-Timestamp"], headers["X-Hearth-Signature"]
    data = json.loads(body)
    assert (data["deliveryId"], data["event"]) == ("delivery-1", "alert.created")
    forged = body.replace(b'"deliveryId":"delivery-1"', b'"deliveryId":"delivery-2"')
    assert forged != body and not signing.verify("s3cret", forged, ts, sig)
    assert signing.verify("s3cret", body, ts, sig)
