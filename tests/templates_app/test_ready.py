"""Ready lines as regular expressions, end to end: an egg's `"done": "regex:…"`, the stored flag, its
validation (RE2, a length cap), the monitor's matcher on hostile lines, and the export back to Wings' form."""

import json
import time

import pytest

from servers.monitor.follower import _ready_matcher
from templates_app.eggs import egg_export, egg_import
from templates_app.models import Template
from templates_app.ready import MAX_PATTERN_CHARS, from_egg, matcher, to_egg
from tests.fixtures.templates import egg_bytes

pytestmark = pytest.mark.django_db


def paper(done, name="Paper regex") -> bytes:
    egg = json.loads(egg_bytes("egg-paper.json"))
    egg["name"] = name
    egg["config"]["startup"] = json.dumps({"done": done})
    return json.dumps(egg).encode()


class TestImport:
    def test_a_regex_done_line_is_imported_as_a_regular_expression(self):
        template, _ = egg_import(paper(r"regex:^\[\d{2}:\d{2}:\d{2} INFO\]: Done \(\d+\.\d+s\)!"))
        assert template.ready_pattern == r"^\[\d{2}:\d{2}:\d{2} INFO\]: Done \(\d+\.\d+s\)!"
        assert template.ready_pattern_is_regex
        ready = _ready_matcher(template)
        assert ready('[12:00:01 INFO]: Done (3.214s)! For help, type "help"')
        assert not ready("[12:00:01 INFO]: Preparing level")
        assert not ready('regex:^\\[ Done (3.2s)! For help, type "help"')

    def test_a_plain_done_line_stays_literal(self):
        template, _ = egg_import(paper("Done (1.0s)!"))
        assert (template.ready_pattern, template.ready_pattern_is_regex) == ("Done (1.0s)!", False)
        assert _ready_matcher(template)("[x] Done (1.0s)! ok")

    def test_a_list_mixing_literal_and_regex_lines_waits_for_any(self):
        template, warnings = egg_import(paper(["Server started (", r"regex:^Listening on \d+$"]))
        assert template.ready_pattern_is_regex
        ready = _ready_matcher(template)
        assert ready("Server started (pid 4)")
        assert ready("Listening on 25565")
        assert not ready("Server started pid")  # the literal's "(" is not a group
        assert not ready("Listening on 25565 twice")
        assert any("waits for any of them" in w for w in warnings)

    @pytest.mark.parametrize(
        ("done", "reason"),
        [
            ("regex:Done (", "missing )"),
            ("regex:(?=Done)", "no look-around"),
            (r"regex:(a)\1", "back-references"),
            pytest.param("regex:" + "a" * (MAX_PATTERN_CHARS + 1), "longer than", id="too-long"),
            (["ok", "regex:[z-a]"], "invalid character class range"),
        ],
    )
    def test_a_bad_regex_refuses_the_import_with_a_clear_message(self, staff, done, reason):
        response = staff.post("/api/templates/import", {"egg": paper(done).decode()}, format="json")
        assert response.status_code == 400, response.content
        message = response.json()["message"]
        assert "config.startup.done is not a valid regular expression" in message
        assert reason in message
        assert not Template.objects.filter(name="Paper regex").exists()

    def test_a_bare_prefix_is_literal_text_as_in_wings(self):
        assert from_egg("regex:") == ("regex:", False)


class TestSave:
    @pytest.mark.parametrize(
        ("pattern", "reason"),
        [
            ("Done (", "missing )"),
            ("(?<=x)Done", "no look-around"),
            pytest.param("a" * (MAX_PATTERN_CHARS + 1), "500 characters", id="too-long"),
        ],
    )
    def test_the_api_refuses_a_pattern_the_monitor_could_not_use(self, staff, make_template, pattern, reason):
        template = make_template()
        response = staff.patch(
            f"/api/templates/{template.pk}",
            {"readyPattern": pattern, "readyPatternIsRegex": True},
            format="json",
        )
        assert response.status_code == 400, response.content
        assert reason in " ".join(response.json()["fields"]["readyPattern"])
        template.refresh_from_db()
        assert not template.ready_pattern_is_regex

    def test_the_api_stores_a_regex(self, staff, make_template):
        template = make_template()
        response = staff.patch(
            f"/api/templates/{template.pk}",
            {"readyPattern": r"^Done \(\d+", "readyPatternIsRegex": True},
            format="json",
        )
        assert response.status_code == 200, response.content
        template.refresh_from_db()
        assert (template.ready_pattern, template.ready_pattern_is_regex) == (r"^Done \(\d+", True)


class TestMatching:
    @pytest.mark.parametrize(
        ("pattern", "line"),
        [
            pytest.param(r"^(a+)+$", "a" * 4000 + "b", id="nested-plus"),
            pytest.param(r"^(a|a)*$", "a" * 4000 + "!", id="overlapping-alternatives"),
            pytest.param(r"^(\w+\s?)*$", "word " * 800 + "!", id="words"),
            pytest.param(r"(x+x+)+y", "x" * 4000, id="no-anchor"),
        ],
    )
    @pytest.mark.timeout(20)
    def test_catastrophic_patterns_take_linear_time_on_hostile_lines(self, pattern, line):
        ready = _ready_matcher(Template(ready_pattern=pattern, ready_pattern_is_regex=True))
        started = time.monotonic()
        for _ in range(20):
            assert not ready(line)
        assert time.monotonic() - started < 1.0  # Python's re needs longer than the universe's age

    def test_only_the_start_of_an_endless_line_is_searched(self):
        ready = _ready_matcher(Template(ready_pattern="READY", ready_pattern_is_regex=True))
        assert not ready("x" * 5000 + "READY")
        assert matcher("READY", False)("x" * 100 + "READY")
        assert not matcher("READY", False)("x" * 5000 + "READY")

    def test_a_pattern_saved_before_the_checks_does_not_leave_the_server_starting(self):
        assert _ready_matcher(Template(ready_pattern="(?=lookahead)", ready_pattern_is_regex=True))(
            "anything"
        )


class TestExport:
    def test_a_regex_is_exported_with_the_prefix_wings_reads(self):
        template, _ = egg_import(paper(r"regex:^Done \(\d+"))
        egg = egg_export(template)
        assert json.loads(egg["config"]["startup"]) == {"done": r"regex:^Done \(\d+"}

    def test_without_the_hearth_block_the_regex_survives_the_round_trip(self):
        template, _ = egg_import(paper(r"regex:^Done \(\d+"))
        egg = egg_export(template)
        del egg["hearth"]
        egg["name"] = "Again"
        again, _ = egg_import(json.dumps(egg))
        assert (again.ready_pattern, again.ready_pattern_is_regex) == (r"^Done \(\d+", True)

    @pytest.mark.parametrize("keep_hearth", [True, False])
    def test_a_literal_that_starts_with_the_prefix_stays_literal(self, make_template, keep_hearth):
        template = make_template(ready_pattern="regex: ready (1)")
        egg = egg_export(template)
        assert json.loads(egg["config"]["startup"])["done"].startswith("regex:regex")
        if not keep_hearth:
            del egg["hearth"]
        template.delete()
        again, _ = egg_import(json.dumps(egg))
        ready = _ready_matcher(again)
        assert ready("... regex: ready (1) ...")
        assert not ready("regex: ready 1")

    def test_to_egg(self):
        assert to_egg("Done (", False) == "Done ("
        assert to_egg(r"Done \(", True) == r"regex:Done \("
        assert to_egg("", True) == ""
