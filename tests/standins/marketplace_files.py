"""Deterministic archives for the marketplace stand-in's catalog: plugin and mod jars, datapacks and
Modrinth modpacks, built in memory with fixed entry dates and contents, so that every process (the
stand-in and the tests that check what the panel downloaded) computes the same bytes and hashes.

Entries are STORED, not deflated: the bytes then depend on nothing but this module (not on the zlib
build), and a flipped byte is always a content change the hash catches."""

import hashlib
import io
import json
import zipfile

FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold


def archive(entries: dict[str, bytes | str]) -> bytes:
    """A zip of these entries, in this order, with fixed dates and permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, content in entries.items():
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.external_attr = 0o644 << 16
            info.create_system = 3  # unix: else the attributes above depend on the host
            zf.writestr(info, content.encode() if isinstance(content, str) else content)
    return buffer.getvalue()


def _manifest(title: str, version: str) -> str:
    return (
        f"Manifest-Version: 1.0\r\nImplementation-Title: {title}\r\nImplementation-Version: {version}\r\n\r\n"
    )


def _class_stub(name: str) -> bytes:
    # Not a loadable class, just a few hundred fixed bytes so the jar's size is not trivial.
    return b"\xca\xfe\xba\xbe\x00\x00\x00\x3d" + (f"stub:{name};" * 24).encode()


def plugin_jar(name: str, version: str, main: str, depend=(), softdepend=()) -> bytes:
    """A Bukkit/Spigot/Paper plugin: plugin.yml (name, version, main) and its main class."""
    lines = [f"name: {name}", f"version: '{version}'", f"main: {main}", "api-version: '1.20'"]
    if depend:
        lines.append(f"depend: [{', '.join(depend)}]")
    if softdepend:
        lines.append(f"softdepend: [{', '.join(softdepend)}]")
    return archive(
        {
            "META-INF/MANIFEST.MF": _manifest(name, version),
            "plugin.yml": "\n".join(lines) + "\n",
            main.replace(".", "/") + ".class": _class_stub(main),
        }
    )


def velocity_jar(plugin_id: str, name: str, version: str, main: str) -> bytes:
    """A Velocity proxy plugin: velocity-plugin.json (Velocity has no plugin.yml)."""
    descriptor = {"id": plugin_id, "name": name, "version": version, "main": main, "dependencies": []}
    return archive(
        {
            "META-INF/MANIFEST.MF": _manifest(name, version),
            "velocity-plugin.json": json.dumps(descriptor, indent=2),
            main.replace(".", "/") + ".class": _class_stub(main),
        }
    )


def fabric_jar(mod_id: str, name: str, version: str, depends=None, environment: str = "*") -> bytes:
    """A Fabric (or Quilt-compatible) mod: fabric.mod.json."""
    descriptor = {
        "schemaVersion": 1,
        "id": mod_id,
        "version": version,
        "name": name,
        "environment": environment,
        "entrypoints": {"main": [f"hearth.{mod_id.replace('-', '_')}.Mod"]},
        "depends": {"fabricloader": ">=0.14.0", "minecraft": ">=1.20", **(depends or {})},
    }
    return archive(
        {
            "META-INF/MANIFEST.MF": _manifest(name, version),
            "fabric.mod.json": json.dumps(descriptor, indent=2),
            f"hearth/{mod_id.replace('-', '_')}/Mod.class": _class_stub(mod_id),
        }
    )


def forge_jar(mod_id: str, name: str, version: str, loader: str = "forge") -> bytes:
    """A Forge (or NeoForge) mod: META-INF/mods.toml."""
    toml = (
        'modLoader="javafml"\nloaderVersion="[47,)"\nlicense="MIT"\n\n'
        f'[[mods]]\nmodId="{mod_id}"\nversion="{version}"\ndisplayName="{name}"\n\n'
        f'[[dependencies.{mod_id}]]\nmodId="{loader}"\nmandatory=true\nversionRange="[47,)"\n'
        'ordering="NONE"\nside="BOTH"\n'
    )
    return archive(
        {
            "META-INF/MANIFEST.MF": _manifest(name, version),
            "META-INF/mods.toml": toml,
            f"hearth/{mod_id.replace('-', '_')}/Mod.class": _class_stub(mod_id),
        }
    )


def datapack_zip(namespace: str, description: str, pack_format: int = 15) -> bytes:
    """A datapack: pack.mcmeta and one function."""
    return archive(
        {
            "pack.mcmeta": json.dumps({"pack": {"pack_format": pack_format, "description": description}}),
            f"data/{namespace}/functions/load.mcfunction": f"say {namespace} loaded\n",
        }
    )


def mrpack(index: dict, overrides: dict[str, str], server_overrides: dict[str, str]) -> bytes:
    """A Modrinth modpack (.mrpack): modrinth.index.json, then overrides/ and server-overrides/."""
    entries: dict[str, bytes | str] = {"modrinth.index.json": json.dumps(index, indent=2)}
    entries.update({f"overrides/{path}": text for path, text in overrides.items()})
    entries.update({f"server-overrides/{path}": text for path, text in server_overrides.items()})
    return archive(entries)


def digest(data: bytes, algorithm: str) -> str:
    """The hex digest of `data` (sha1, sha256, sha512, md5)."""
    return hashlib.new(algorithm, data).hexdigest()


def curseforge_fingerprint(data: bytes) -> int:
    """CurseForge's file fingerprint: MurmurHash2 (seed 1) of the bytes with whitespace (tab, LF, CR,
    space) removed, as CurseForge and the launchers compute it."""
    data = bytes(b for b in data if b not in (9, 10, 13, 32))
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    length = len(data)
    h = (1 ^ length) & mask
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[whole:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h
