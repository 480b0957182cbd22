"""SSH keys: the panel's own key pairs and the host-key lines pinned on nodes."""

import base64
import io

import paramiko


def host_key_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


def parse_host_key(line: str) -> paramiko.PKey:
    key_type, data = line.split()[:2]
    return paramiko.PKey.from_type_string(key_type, base64.b64decode(data))


def load_private_key(text: str) -> paramiko.PKey:
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise ValueError("The node's SSH private key is not a valid OpenSSH ed25519, ECDSA or RSA key.")


def generate_keypair() -> tuple[str, str]:
    """A new ed25519 key pair: (private key in OpenSSH PEM, public key line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return pem, f"{public.decode()} hearth-panel"


def fingerprint(line: str) -> str:
    """OpenSSH's SHA256 fingerprint of a host-key line, as `ssh-keygen -lf` prints it."""
    import hashlib

    try:
        digest = hashlib.sha256(base64.b64decode(line.split()[1])).digest()
    except (IndexError, ValueError):
        return "(no key)" if not line.strip() else "(not a key line)"
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def normalize_host_key(line: str) -> str:
    """'type base64' of an OpenSSH public host-key line (comment dropped); ValueError if it is not one."""
    try:
        key = parse_host_key(line)
    except Exception as exc:  # split, base64 and paramiko each raise their own kind
        raise ValueError("Not an OpenSSH public host key line (e.g. 'ssh-ed25519 AAAA…').") from exc
    return host_key_line(key)
