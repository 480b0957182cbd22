"""Signals through which apps that stand on nodes (alerts) take part in what the health checker decides,
without nodes importing them (tests/test_layering.py).

`node_offline(node=, reason=)` and `node_online(node=)`: sent in the health check's transaction when
the node is marked offline (after HEARTH_NODE_OFFLINE_AFTER failures in a row) or online again.
"""

from django.dispatch import Signal

node_offline = Signal()
node_online = Signal()
