"""Backup (status, size, checksum, storage backend) and the retention settings will live here."""
