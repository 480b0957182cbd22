"""Config-file rewriters: each parser, and values that try to add keys or lines of their own."""

import json
import string

import pytest
import yaml
from defusedxml import ElementTree as ET
from hypothesis import given, settings
from hypothesis import strategies as st

from templates_app.configfiles import BadConfigFile, read_properties, rendered, rewrite
from tests.templates_app.test_api import CONTRACT_BODY

PROPERTIES = """#Minecraft server properties
#Sat Nov 22 04:11:00 UTC 2026
enable-rcon=false
server-port=25565
motd=A Minecraft Server
max-players=20
"""


class TestProperties:
    def test_keys_are_replaced_in_place_and_comments_kept(self):
        out = rewrite("properties", PROPERTIES, {"server-port": "25570", "motd": "Hello world"})
        assert out.splitlines() == [
            "#Minecraft server properties",
            "#Sat Nov 22 04:11:00 UTC 2026",
            "enable-rcon=false",
            "server-port=25570",
            "motd=Hello world",
            "max-players=20",
        ]

    def test_missing_keys_are_appended(self):
        out = rewrite("properties", PROPERTIES, {"query.port": "25565"})
        assert out.endswith("max-players=20\nquery.port=25565\n")

    def test_an_empty_file_gets_the_keys(self):
        assert rewrite("properties", "", {"a": "1", "b": "2"}) == "a=1\nb=2\n"

    def test_other_separators_and_continuations_are_understood(self):
        text = "key1 = one\nkey2: two\nlong=first \\\n    second\nafter=x\n"
        out = rewrite("properties", text, {"key2": "2", "long": "short"})
        assert out == "key1 = one\nkey2=2\nlong=short\nafter=x\n"

    def test_a_line_break_cannot_add_a_key(self):
        out = rewrite("properties", PROPERTIES, {"motd": "hi\nenable-rcon=true\r\nrcon.password=x"})
        props = read_properties(out)
        assert props["enable-rcon"] == "false"
        assert "rcon.password" not in props
        assert props["motd"] == "hi\\nenable-rcon=true\\r\\nrcon.password=x"

    def test_a_trailing_backslash_cannot_swallow_the_next_line(self):
        out = rewrite("properties", PROPERTIES, {"server-port": "1\\"})
        assert read_properties(out)["motd"] == "A Minecraft Server"

    def test_crlf_files_stay_crlf(self):
        assert rewrite("properties", "a=1\r\nb=2\r\n", {"a": "9"}) == "a=9\r\nb=2\r\n"

    @settings(deadline=None)  # 200 ms by default: missed when the machine's two cores are busy
    @given(
        original=st.dictionaries(
            st.text(string.ascii_letters + string.digits + "-._", min_size=1, max_size=12),
            st.text(string.ascii_letters + string.digits + " -._/", max_size=20).map(str.strip),
            max_size=8,
        ),
        changes=st.dictionaries(
            st.text(string.ascii_letters + string.digits + "-._", min_size=1, max_size=12),
            st.text(string.printable.replace("\\", ""), max_size=30).filter(
                lambda v: not v[:1].isspace() and "\n" not in v and "\r" not in v
            ),
            max_size=8,
        ),
        comment=st.booleans(),
    )
    def test_rewrite_round_trips(self, original, changes, comment):
        text = ("# header\n" if comment else "") + "".join(f"{k}={v}\n" for k, v in original.items())
        out = rewrite("properties", text, changes)
        assert read_properties(out) == {**original, **changes}
        unchanged = [line for line in text.splitlines() if line.split("=", 1)[0] not in changes]
        assert [line for line in out.splitlines() if line in unchanged] == unchanged


class TestYaml:
    def test_dotted_keys_set_nested_values_with_types(self):
        text = "settings:\n  port: 25565\n  name: old\nother: [1, 2]\n"
        out = rewrite(
            "yaml", text, {"settings.port": "25570", "settings.online": "true", "new.deep.key": "x"}
        )
        assert yaml.safe_load(out) == {
            "settings": {"port": 25570, "name": "old", "online": True},
            "other": [1, 2],
            "new": {"deep": {"key": "x"}},
        }

    def test_wildcards_and_list_indexes(self):
        text = "servers:\n  lobby: {address: 'localhost:1'}\n  game: {address: 'localhost:2'}\nlisteners:\n- host: a\n"
        out = rewrite("yaml", text, {"servers.*.address": "0.0.0.0:9", "listeners[0].host": "0.0.0.0:25577"})
        data = yaml.safe_load(out)
        assert data["servers"] == {"lobby": {"address": "0.0.0.0:9"}, "game": {"address": "0.0.0.0:9"}}
        assert data["listeners"] == [{"host": "0.0.0.0:25577"}]

    def test_values_are_data_not_yaml(self):
        out = rewrite("yaml", "a: 1\n", {"a": "x\nb: injected", "c": "!!python/object:os.system"})
        assert yaml.safe_load(out) == {"a": "x\nb: injected", "c": "!!python/object:os.system"}

    def test_an_empty_file_becomes_a_mapping(self):
        assert yaml.safe_load(rewrite("yaml", "", {"a.b": "1"})) == {"a": {"b": 1}}


class TestJson:
    def test_dotted_keys_keep_indentation(self):
        text = json.dumps(
            {"name": "old", "visibility": {"public": True, "lan": True}, "max_players": 0}, indent=2
        )
        out = rewrite(
            "json", text, {"name": 'My "quoted" server', "visibility.public": "false", "max_players": "20"}
        )
        assert json.loads(out) == {
            "name": 'My "quoted" server',
            "visibility": {"public": False, "lan": True},
            "max_players": 20,
        }
        assert out.startswith('{\n  "name"')

    def test_compact_files_stay_compact(self):
        assert rewrite("json", '{"a":1}', {"b": "x"}) == '{"a": 1, "b": "x"}'


class TestIni:
    MURMUR = "; Murmur configuration\ndatabase=\nport=64738\nhost=\n\n[Ice]\nIce.Warn.UnknownProperties=1\n"

    def test_top_level_and_section_keys(self):
        out = rewrite(
            "ini", self.MURMUR, {"port": "30000", "users": "50", "Ice.Ice.Warn.UnknownProperties": "0"}
        )
        assert out == (
            "; Murmur configuration\ndatabase=\nport=30000\nhost=\n\nusers=50\n[Ice]\n"
            "Ice.Warn.UnknownProperties=0\n"
        )

    def test_spacing_around_the_separator_is_kept_and_new_sections_added(self):
        out = rewrite("ini", "[server]\nname = old\n", {"server.name": "new", "network.port": "1"})
        assert out == "[server]\nname = new\n\n[network]\nport=1\n"

    def test_a_line_break_cannot_add_a_key_or_section(self):
        out = rewrite("ini", "[a]\nk=1\n", {"a.k": "x\n[b]\nevil=1"})
        assert out == "[a]\nk=x [b] evil=1\n"


class TestFile:
    def test_lines_starting_with_the_key_are_replaced_whole(self):
        text = "Welcome to the server\nport 1234\nport_extra 9\nother\n"
        out = rewrite("file", text, {"Welcome": "Welcome to Hearth!", "port ": "port 25565"})
        assert out == "Welcome to Hearth!\nport 25565\nport_extra 9\nother\n"

    def test_nothing_is_added_and_line_breaks_are_flattened(self):
        assert rewrite("file", "a=1\n", {"b": "b=2", "a": "a=2\nrm -rf /"}) == "a=2 rm -rf /\n"

    def test_the_empty_key_replaces_every_line(self):
        # As Wings: an empty prefix starts every line (an egg's "find": {"": "{{MOTD}}"}).
        assert rewrite("file", "old motd\nsecond line\n", {"": "Welcome"}) == "Welcome\nWelcome\n"
        assert rewrite("file", "", {"": "Welcome"}) == ""  # nothing is added
        assert rewrite("file", "keep\nport 1\n", {"port ": "port 2", "": "x"}) == "x\nport 2\n"


def test_unknown_parsers_are_refused():
    with pytest.raises(ValueError, match="toml"):
        rewrite("toml", "", {})


class TestConditional:
    """Pterodactyl's `find: {key: {ifvalue: replacewith}}`: rewritten only from a listed current value."""

    def test_properties(self):
        text = "online-mode=true\nmotd=Hi\\:there\npvp=false\n"
        out = rewrite(
            "properties",
            text,
            {
                "online-mode": {"true": "false"},
                "motd": {"Hi:there": "Bye"},
                "pvp": {"true": "x"},
                "new": {"": "y"},
            },
        )
        assert out == "online-mode=false\nmotd=Bye\npvp=false\n"  # pvp unchanged, `new` never added

    def test_yaml_and_json_compare_the_value_as_written(self):
        text = "settings:\n  bungeecord: false\n  port: 25565\n  name: lobby\nlist: [a, b]\n"
        out = yaml.safe_load(
            rewrite(
                "yaml",
                text,
                {
                    "settings.bungeecord": {"false": "true"},
                    "settings.port": {"25565": "25570"},
                    "settings.name": {"other": "x"},
                    "settings.absent": {"": "x"},
                    "list": {"a": "b"},
                },
            )
        )
        assert out == {
            "settings": {"bungeecord": True, "port": 25570, "name": "lobby"},
            "list": ["a", "b"],
        }
        data = json.loads(
            rewrite(
                "json",
                '{"servers": {"a": {"ip": "10.0.0.1"}, "b": {"ip": "1.2.3.4"}}}',
                {"servers.*.ip": {"10.0.0.1": "{{IP}}"}},
            )
        )
        assert data == {"servers": {"a": {"ip": "{{IP}}"}, "b": {"ip": "1.2.3.4"}}}

    def test_ini_and_file(self):
        out = rewrite(
            "ini",
            "[net]\nport = 1\nhost=a\n",
            {"net.port": {"1": "2"}, "net.host": {"b": "c"}, "net.x": {"": "1"}},
        )
        assert out == "[net]\nport = 2\nhost=a\n"
        out = rewrite("file", "motd=Old\nmotd=Keep\n", {"motd=": {"Old": "motd=New\nrm -rf /"}})
        assert out == "motd=New rm -rf /\nmotd=Keep\n"
        # The empty key with a mapping: whole lines swapped for others.
        assert rewrite("file", "a\nb\n", {"": {"b": "c"}}) == "a\nc\n"

    def test_rendering_leaves_the_looked_for_values_as_written(self):
        replace = {"a": "{{X}}", "b": {"{{X}}": "{{X}}!"}}
        assert rendered(replace, lambda text: text.replace("{{X}}", "1")) == {"a": "1", "b": {"{{X}}": "1!"}}


XML = """<?xml version="1.0" encoding="utf-8"?>
<ServerSettings>
  <!-- the port the game listens on -->
  <Port>7777</Port>
  <Mods>
    <Mod>a</Mod>
    <Mod>b</Mod>
  </Mods>
</ServerSettings>
"""


class TestXml:
    """Wings' keys: dotted from the root, `*` for every child, missing elements created, [attr='v']."""

    def test_keys_set_text_create_elements_and_keep_comments(self):
        out = rewrite(
            "xml",
            XML,
            {
                "ServerSettings.Port": "7800",
                "ServerSettings.Mods.*": "c",
                "ServerSettings.Net.Bind": "[value='10.0.0.1']",
                "ServerSettings.Name": "<evil/>&amp;",
                "Other.Port": "1",  # another root: nothing found, nothing made
            },
        )
        root = ET.fromstring(out.split("\n", 1)[1])
        assert out.startswith('<?xml version="1.0" encoding="utf-8"?>\n')
        assert "<!-- the port the game listens on -->" in out
        assert root.findtext("Port") == "7800"
        assert [m.text for m in root.find("Mods")] == ["c", "c"]
        assert root.find("Net/Bind").get("value") == "10.0.0.1"
        assert root.findtext("Name") == "<evil/>&amp;" and root.find("Name/evil") is None
        assert root.find("Other") is None

    def test_an_empty_file_gets_a_root_and_conditionals_apply_to_the_text(self):
        out = rewrite("xml", "", {"Config.port": "1"})
        assert out == '<?xml version="1.0" encoding="utf-8"?>\n<Config>\n  <port>1</port>\n</Config>\n'
        out = rewrite(
            "xml", XML, {"ServerSettings.Port": {"7777": "7778"}, "ServerSettings.Mods.Mod": {"b": "z"}}
        )
        root = ET.fromstring(out.split("\n", 1)[1])
        assert root.findtext("Port") == "7778" and [m.text for m in root.find("Mods")] == ["a", "z"]
        assert rewrite("xml", XML, {"ServerSettings.Missing": {"": "1"}}).count("Missing") == 0

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (  # the billion laughs: entities are refused, never expanded
                '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">'
                '<!ENTITY c "&b;&b;&b;&b;&b;">]><r>&c;</r>',
                "not valid xml",
            ),
            (  # an external entity would read a file of the panel's
                '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
                "not valid xml",
            ),
            ("<r>" * 50_000 + "</r>" * 50_000, "nested deeper than"),
            ("<r><a></r>", "not valid xml"),
        ],
    )
    def test_hostile_files_are_refused_not_read(self, text, message):
        with pytest.raises(BadConfigFile, match=message):
            rewrite("xml", text, {"r.x": "1"})

    def test_a_file_no_key_changes_is_left_byte_for_byte(self):
        text = (
            '<?xml version="1.0"?>\n<!DOCTYPE project SYSTEM "project.dtd">\n<?render fast?>\n'
            '<!-- before -->\n<project xmlns="http://maven.apache.org/POM/4.0.0" a="1">'
            "<version>1</version></project>\n<!-- after -->\n"
        )
        for replace in ({"project.version": "1"}, {"project.version": {"2": "3"}}, {"other.x": "1"}, {}):
            assert rewrite("xml", text, replace) == text
        out = rewrite("xml", text, {"project.version": "2"})
        assert out == text.replace("<version>1</version>", "<version>2</version>")
        out = rewrite("xml", text, {"project.build.name": "x"})  # created: the root is re-indented
        assert out.startswith(text[: text.index("<project")]) and out.endswith("</project>\n<!-- after -->\n")
        assert "ns0" not in out and "<build>" in out and 'xmlns="http://maven.apache.org/POM/4.0.0"' in out

    def test_keys_match_local_names_and_prefixes_stay_as_written(self):
        text = '<m:project xmlns:m="urn:m"><m:version>1</m:version><x/></m:project>'
        out = rewrite("xml", text, {"project.version": "2", "project.x": "[on='yes']"})
        assert out == '<m:project xmlns:m="urn:m"><m:version>2</m:version><x on="yes" /></m:project>'
        element = ET.fromstring(out).find("{urn:m}version")
        assert element.text == "2"

    def test_characters_xml_cannot_hold_are_dropped_from_values(self):
        out = rewrite("xml", "<r><a/></r>", {"r.a": "x\x01\x1b[0m\ud800y\tz", "r.b": "[v='\x00q']"})
        root = ET.fromstring(out)
        assert root.findtext("a") == "x[0my\tz" and root.find("b").get("v") == "q"
        assert rewrite("xml", "<r/>", {"r": "[1a='x']"}) == "<r>[1a='x']</r>"  # no such attribute name


def test_nesting_too_deep_for_a_parser_is_a_bad_config_file():
    with pytest.raises(BadConfigFile, match="nested too deeply"):
        rewrite("json", "[" * 100_000 + "]" * 100_000, {"a": "1"})
    deep = "".join(f"{'  ' * i}k{i}:\n" for i in range(3000)) + "  " * 3000 + "v: 1\n"
    with pytest.raises(BadConfigFile, match="nested too deeply"):
        rewrite("yaml", deep, {"a": "1"})


def test_broken_json_and_yaml_are_bad_config_files():
    with pytest.raises(BadConfigFile, match="not valid json"):
        rewrite("json", "{", {"a": "1"})
    with pytest.raises(BadConfigFile, match="not valid yaml"):
        rewrite("yaml", "a: [", {"a": "1"})


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"parser": "properties", "replace": {"": "x"}}, "empty only for the file parser"),
        ({"parser": "properties", "replace": {"a": {}}}, "conditional replacement must be a non-empty"),
        ({"parser": "yaml", "replace": {"a": {"x": 1}}}, "conditional replacement must be a non-empty"),
        ({"parser": "ini", "replace": {"a": ["x"]}}, "a value must be a string, or an object"),
        ({"parser": "xml", "replace": {"*.a": "x"}}, "is not an xml key"),
        ({"parser": "xml", "replace": {"r.a b": "x"}}, "is not an xml key"),
        ({"parser": "xml", "replace": {"r..a": "x"}}, "is not an xml key"),
    ],
)
@pytest.mark.django_db
def test_bad_rule_shapes_are_refused_at_save(staff, rule, message):
    body = {**CONTRACT_BODY, "name": "Bad", "configFileRules": [{"path": "c.cfg", **rule}]}
    response = staff.post("/api/templates", body, format="json")
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()["fields"]["configFileRules"])


@pytest.mark.django_db
def test_good_rule_shapes_are_saved_as_written(staff):
    rules = [
        {"path": "motd.txt", "parser": "file", "replace": {"": "{{MOTD}}"}},
        {
            "path": "a.xml",
            "parser": "xml",
            "replace": {"Root.Port": "{{SERVER_PORT}}", "Root.*.x": {"1": "2"}},
        },
        {"path": "server.properties", "parser": "properties", "replace": {"online-mode": {"true": "false"}}},
    ]
    response = staff.post(
        "/api/templates", {**CONTRACT_BODY, "name": "Good", "configFileRules": rules}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["data"]["configFileRules"] == rules
