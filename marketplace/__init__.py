"""Marketplace: searching plugins and mods (Modrinth, Spiget, CurseForge, Hangar) and installing them into a server's files."""
