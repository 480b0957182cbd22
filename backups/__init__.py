"""Backups: a server's files archived to a storage backend (node-local, S3), restored on request, pruned by retention; each one a job (servers.jobs)."""
