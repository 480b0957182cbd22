"""The egg features' offers in a real browser against the real panel (web, worker and monitor processes)
and the local engine: the game's console line "You need to agree to the EULA" offers a one-click accept,
which writes eula.txt and starts the server; a Java version error offers the template's other images."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from servers.models import Job
from templates_app.models import Template
from tests.fixtures import require_env
from tests.fixtures.browser import SLOW, sign_in
from tests.fixtures.servers import stopped_server

# Like Minecraft: without eula=true in eula.txt the game prints the line and exits.
EULA_GATE = (
    "grep -q '^eula=true' eula.txt 2>/dev/null || { echo '[12:00:00] [ServerMain/INFO]: You need to agree "
    "to the EULA in order to run the server. Go to eula.txt for more info.'; exit 0; }; "
    "exec /usr/local/bin/testgame"
)
JAVA_ERROR = (
    "Error: LinkageError occurred while loading main class net.minecraft.bundler.Main "
    "java.lang.UnsupportedClassVersionError: has been compiled by a more recent version of the Java Runtime"
)

EULA_LINE = "You need to agree to the EULA in order to run the server."


def send(page, message: dict) -> None:
    """A message as the console socket delivers it to the page's listeners."""
    page.evaluate("m => document.dispatchEvent(new CustomEvent('hearth:message', {detail: m}))", message)


@pytest.fixture
def eula_server(customer, game_node, _no_leftover_containers, settings):
    from django.conf import global_settings

    from tests.fixtures import PASSWORD

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # the panel processes check it
    customer.set_password(PASSWORD)
    customer.save(update_fields=["password"])
    image = require_env("HEARTH_TEST_IMAGE")
    template = Template.objects.create(
        name="Gated Game",
        docker_image=image,
        # Two names of the one local image, so switching between them runs the real game.
        docker_images={"Java 17": image, "Java 21": f"docker.io/{image}"},
        start_command=EULA_GATE,
        stop_command="stop",
        ready_pattern="Done (",
        features=["eula", "java_version"],
    )
    server = stopped_server(
        node=game_node(), template=template, owner=customer, name="gated", installed_at=timezone.now()
    )
    # An earlier run: the page ignores replayed lines stamped before its start.
    Job.objects.create(server=server, kind=Job.Kind.POWER, detail={"action": "start"})
    return server


def test_the_eula_line_offers_an_accept_that_writes_the_file_and_starts_the_server(
    panel, customer, eula_server, browser
):
    server = eula_server
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    page = context.new_page()
    sign_in(page, panel, customer, path=f"/servers/{server.pk}")
    badge = page.locator(".head-status [data-status-badge]")
    offer = page.locator("#feature-offer")
    expect(page.locator("#connection")).to_have_text("Live")
    expect(offer).to_be_hidden()
    page.wait_for_load_state("networkidle")  # the template's features are known: an offer would show now
    for planted in (
        {"stream": "system", "data": EULA_LINE},  # the panel's own line (a command, a notice)
        {"stream": "stdout", "data": EULA_LINE, "timestamp": "2000-01-01T00:00:00.000Z"},  # replayed, old
    ):
        send(page, {"type": "server_log", **planted})
    assert page.locator("#feature-offer").evaluate("box => box.hidden")

    page.get_by_role("button", name="Start", exact=True).click()
    try:
        expect(page.locator("#console")).to_contain_text("You need to agree to the EULA", timeout=SLOW)
    except AssertionError as exc:  # the start runs in the worker: say what it did
        raise AssertionError(
            f"{exc}\n{panel.log('worker')[-6000:]}\n{panel.log('monitor')[-3000:]}"
        ) from None
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("Accept the Minecraft® EULA")
    expect(badge).not_to_have_text("Starting", timeout=SLOW)  # the game exited
    page.locator("#eula-accept").click()
    expect(offer).to_contain_text("eula.txt now says eula=true")
    expect(page.locator("#console")).to_contain_text("Done (", timeout=SLOW)
    expect(badge).to_have_text("Running", timeout=SLOW)
    expect(offer).to_contain_text("eula.txt now says eula=true")  # what was done stays said
    content = page.evaluate(
        f"fetch('/api/servers/{server.pk}/files/content?path=/eula.txt').then(r => r.json())"
    )
    assert content["data"]["content"] == "eula=true\n"

    # A player's chat while the game runs is not the game's EULA line: nothing at the stop.
    offer.get_by_role("button", name="Dismiss").click()
    send(
        page, {"type": "server_log", "stream": "stdout", "data": f"[Server thread/INFO]: <Steve> {EULA_LINE}"}
    )
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(badge).to_have_text("Stopped", timeout=SLOW)
    expect(offer).to_be_hidden()
    # A Java version error (sent as the console would, the game here has no Java) offers the other image.
    send(page, {"type": "server_log", "stream": "stdout", "data": JAVA_ERROR})
    expect(offer).to_contain_text("needs another Java version")
    expect(page.locator("#java-image option")).to_have_count(1)  # the image it runs is not offered
    page.locator("#java-switch").click()
    expect(offer).to_contain_text("now runs docker.io/hearth/testgame:latest and is starting")
    expect(badge).to_have_text("Running", timeout=SLOW)
    detail = page.evaluate(f"fetch('/api/servers/{server.pk}').then(r => r.json())")
    assert detail["data"]["dockerImage"] == "docker.io/hearth/testgame:latest"
    assert errors == [], errors
