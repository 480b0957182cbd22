"""The `xml` config-file parser, with Wings' keys: `root.child.leaf` names elements from the root
(dots become path steps, `*` is every child element), a missing path without `*` is created (and a
document without a root gets one named after the first key's root), and a value shaped
`[attribute='text']` sets that attribute instead of the element's text.

A customer owns the file: it is parsed by defusedxml, so a DTD's entities (the billion laughs) and
external entities (`SYSTEM "file:///etc/passwd"`) are refused instead of expanded, and nesting deeper
than MAX_DEPTH is refused before anything recursive walks it. Values are set as text or attribute
values, escaped by the serializer: a value cannot add elements."""

import re
import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from templates_app.configfiles_values import BadConfigFile, Value, choose

MAX_DEPTH = 200
ATTRIBUTE_RE = re.compile(r"^\[(\w+)='(.*)'\]$", re.DOTALL)  # Wings' xmlValueMatchRegex
DECLARATION_RE = re.compile(r"^\s*<\?xml[^>]*\?>")


def rewrite_xml(text: str, replacements: dict[str, Value]) -> str:
    root = _parse(text) if text.strip() else None
    created = root is None
    for key, value in replacements.items():
        steps = key.split(".")
        if root is None:
            if not isinstance(value, str):
                continue  # a conditional never creates
            root = ET.Element(steps[0])
        if steps[0] != root.tag:
            continue  # another document's key: nothing to find, nothing made
        if isinstance(value, str) and "*" not in steps:
            created |= _make(root, steps[1:])
        for element in _find(root, steps[1:]):
            _set(element, value)
    if root is None:
        return text
    if created:
        ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", xml_declaration=False)
    declaration = DECLARATION_RE.match(text)
    head = declaration.group(0).strip() if declaration else '<?xml version="1.0" encoding="utf-8"?>'
    return f"{head}\n{body}\n"


def _parse(text: str) -> ET.Element:
    """The document's root element, comments kept; refusing entities and deep nesting."""
    parser = DefusedXMLParser(target=ET.TreeBuilder(insert_comments=True), forbid_dtd=False)
    try:
        parser.feed(text)
        root = parser.close()
    except (ParseError, DefusedXmlException) as exc:
        raise BadConfigFile(f"not valid xml: {exc}") from exc
    _refuse_deep(root)
    return root


def _refuse_deep(root: ET.Element) -> None:
    level, depth = [root], 1
    while level:
        if depth > MAX_DEPTH:
            raise BadConfigFile(f"not usable xml: nested deeper than {MAX_DEPTH} elements")
        level = [child for element in level for child in element]
        depth += 1


def _children(element: ET.Element, tag: str) -> list[ET.Element]:
    """Child elements named `tag` (`*`: every child element; comments are not elements)."""
    return [child for child in element if isinstance(child.tag, str) and tag in ("*", child.tag)]


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


def _set(element: ET.Element, value: Value) -> None:
    new = choose(value, (element.text or "").strip())
    if new is None:
        return
    attribute = ATTRIBUTE_RE.match(new)
    if attribute:
        element.set(attribute.group(1), attribute.group(2))
    else:
        element.text = new
