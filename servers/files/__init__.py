"""A server's files: the file manager (API, web UI), archives, URL pulls and the SFTP gateway's door.

Every operation goes through a FileSession (nodes/client/files.py): OpenSSH's sftp-server in a helper
container that mounts the server's directory and nothing else, so no symlink, hardlink, `..` or race
the customer plants can reach outside it. This package turns customers' paths into the helper's
(paths.py), opens sessions (helper.py), and composes the features from the session's operations.
"""
