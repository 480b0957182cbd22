"""Installed plugins and mods (source, version, file hashes) will live here."""
