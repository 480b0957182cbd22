"""Moved to servers/monitor/ (nodes never imports servers). Kept only for tests/servers/conftest.py's
`from nodes.monitor import Monitor` until the fixtures plugin imports it from its new home: remove then."""


def __getattr__(name):  # moved to servers.monitor; lazy, so importing nodes imports no servers code
    import servers.monitor

    return getattr(servers.monitor, name)
