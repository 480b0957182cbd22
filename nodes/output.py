"""Moved to servers/monitor/output.py. Kept only for bench/console's `from nodes.output import Throttle,
cut` until the split bench imports them from their new home: remove then."""


def __getattr__(name):  # moved to servers.monitor.output; lazy, so importing nodes imports no servers code
    import servers.monitor.output

    return getattr(servers.monitor.output, name)
