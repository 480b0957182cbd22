"""The `xml` config-file parser, with Wings' keys: `root.child.leaf` names elements from the root
(dots become path steps, `*` is every child element), a missing path without `*` is created (and a
document without a root gets one named after the first key's root), and a value shaped
`[attribute='text']` sets that attribute instead of the element's text.

A customer owns the file: it is parsed by defusedxml, so a DTD's entities (the billion laughs) and
external entities (`SYSTEM "file:///etc/passwd"`) are refused instead of expanded, and nesting deeper
than MAX_DEPTH is refused before anything recursive walks it. Values are set as text or attribute
values, escaped by the serializer: a value cannot add elements, and the characters XML 1.0 cannot
hold (control characters, lone surrogates) are dropped from it.

A file no key changes is left byte for byte as it is. One that changes keeps what lies outside its
root element as written (the declaration, a DOCTYPE, comments, processing instructions), and its
names as written: elements are read without namespace processing, so `<project xmlns="…">` stays
`project` with its `xmlns` attribute (never `ns0:project`), and a key's step matches an element's
local name (`project.version` finds `<m:version>` too)."""

import re
import xml.etree.ElementTree as ET
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from templates_app.configfiles_values import BadConfigFile, Value, choose

MAX_DEPTH = 200
ATTRIBUTE_RE = re.compile(r"^\[(\w+)='(.*)'\]$", re.DOTALL)  # Wings' xmlValueMatchRegex
NAME_RE = re.compile(r"^[A-Za-z_][\w.-]*$")  # an attribute name XML accepts (else the value is text)
NOT_XML_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
NEW_DOCUMENT = '<?xml version="1.0" encoding="utf-8"?>\n'


def rewrite_xml(text: str, replacements: dict[str, Value]) -> str:
    if not text.strip():
        return _new_document(replacements) or text  # a conditional alone makes nothing
    _refuse_hostile(text)
    root, prolog, epilog = _read(text)
    changed = created = False
    for key, value in replacements.items():
        steps = key.split(".")
        if not _named(root, steps[0]):
            continue  # another document's key: nothing to find, nothing made
        if isinstance(value, str) and "*" not in steps:
            created |= _make(root, steps[1:])
        for element in _find(root, steps[1:]):
            changed |= _set(element, value)
    if not (changed or created):
        return text
    if created:
        ET.indent(root, space="  ")
    return prolog + ET.tostring(root, encoding="unicode") + epilog


def _new_document(replacements: dict[str, Value]) -> str:
    root = None
    for key, value in replacements.items():
        steps = key.split(".")
        if root is None and isinstance(value, str):  # a conditional never creates
            root = ET.Element(steps[0])
        if root is None or root.tag != steps[0]:
            continue
        if isinstance(value, str) and "*" not in steps:
            _make(root, steps[1:])
        for element in _find(root, steps[1:]):
            _set(element, value)
    if root is None:
        return ""
    ET.indent(root, space="  ")
    return f"{NEW_DOCUMENT}{ET.tostring(root, encoding='unicode')}\n"


def _refuse_hostile(text: str) -> None:
    """Parse with defusedxml first: entities (the billion laughs, `SYSTEM "file:///…"`) and broken
    xml are refused before the plain parse below reads anything; then deep nesting."""
    parser = DefusedXMLParser(target=ET.TreeBuilder(), forbid_dtd=False)
    try:
        parser.feed(text)
        root = parser.close()
    except (ParseError, DefusedXmlException) as exc:
        raise BadConfigFile(f"not valid xml: {exc}") from exc
    _refuse_deep(root)


def _read(text: str) -> tuple[ET.Element, str, str]:
    """The root element with its names as written (no namespace processing), comments and processing
    instructions inside it kept; and the text before and after it, untouched."""
    builder = ET.TreeBuilder(insert_comments=True, insert_pis=True)
    parser = expat.ParserCreate()
    depth, span = 0, [0, 0]

    def start(name, attributes):
        nonlocal depth
        if depth == 0:
            span[0] = parser.CurrentByteIndex
        depth += 1
        builder.start(name, attributes)

    def end(name):
        nonlocal depth
        depth -= 1
        builder.end(name)
        if depth == 0:
            span[1] = parser.CurrentByteIndex

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = lambda data: depth and builder.data(data)
    parser.CommentHandler = lambda data: depth and builder.comment(data)
    parser.ProcessingInstructionHandler = lambda target, data: depth and builder.pi(target, data)
    try:
        parser.Parse(text, True)  # a str is parsed as utf-8: the byte indexes are into that
    except expat.ExpatError as exc:
        raise BadConfigFile(f"not valid xml: {exc}") from exc
    data = text.encode("utf-8")
    first, last = span  # expat's index at an end tag is its `</`; at `<root/>`, just after it
    after = data.index(b">", last) + 1 if data.startswith(b"</", last) else last
    return builder.close(), data[:first].decode("utf-8"), data[after:].decode("utf-8")


def _refuse_deep(root: ET.Element) -> None:
    level, depth = [root], 1
    while level:
        if depth > MAX_DEPTH:
            raise BadConfigFile(f"not usable xml: nested deeper than {MAX_DEPTH} elements")
        level = [child for element in level for child in element]
        depth += 1


def _named(element: ET.Element, step: str) -> bool:
    """Is `element` what the key's `step` names: its name as written, or its local name (a prefix
    or a default namespace is no part of a Wings key)?"""
    tag = element.tag
    return isinstance(tag, str) and step in ("*", tag, tag.rpartition(":")[2])


def _children(element: ET.Element, tag: str) -> list[ET.Element]:
    """Child elements named `tag` (`*`: every child element; comments are not elements)."""
    return [child for child in element if _named(child, tag)]


def _make(root: ET.Element, steps: list[str]) -> bool:
    """Create the elements of `steps` missing under `root` (the first of each name is followed)."""
    made, element = False, root
    for step in steps:
        found = _children(element, step)
        if found:
            element = found[0]
        else:
            element, made = ET.SubElement(element, step), True
    return made


def _find(root: ET.Element, steps: list[str]) -> list[ET.Element]:
    elements = [root]
    for step in steps:
        elements = [child for element in elements for child in _children(element, step)]
    return elements


def _set(element: ET.Element, value: Value) -> bool:
    """Set the element's text (or an attribute); whether anything changed."""
    new = choose(value, (element.text or "").strip())
    if new is None:
        return False
    new = NOT_XML_RE.sub("", new)
    attribute = ATTRIBUTE_RE.match(new)
    if attribute and NAME_RE.match(attribute.group(1)):
        name, text = attribute.groups()
        if element.get(name) == text:
            return False
        element.set(name, text)
        return True
    if element.text == new:
        return False
    element.text = new
    return True
