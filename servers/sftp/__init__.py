"""The SFTP gateway's Hearth logic: logins (logins.py), each session's standing, re-checked every few
seconds, and its audit rows (session.py), the packet proxy to the server's files helper (proxy.py),
and the authority the SSH server in nodes/client/sftp_gateway.py calls (gateway.py)."""
