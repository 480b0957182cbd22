"""How the panel names itself to a node: the public half of its SSH key, a node's label in safe
characters, and the hash a node secret is stored as."""

import hashlib
import re

from config.crypto import decrypt
from nodes import client as node_client
from nodes.models import Node

KEY_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def node_public_key(node: Node) -> str:
    """The public half of the panel's key for this node (what goes in the node's authorized_keys)."""
    if not node.ssh_private_key:
        return ""
    key = node_client.load_private_key(decrypt(node.ssh_private_key))
    return f"{key.get_name()} {key.get_base64()} hearth-panel-{node_label(node)}"


def node_label(node: Node) -> str:
    """The node's name in safe characters only, for a key comment or a script's output: one line, no
    terminal escapes, whatever an older row holds (names are checked now, but were not always)."""
    return KEY_COMMENT_UNSAFE.sub("_", node.name)
