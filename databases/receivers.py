"""How databases take part in a server's deletion (servers imports no databases): once the node has
removed the server's files, its databases are dropped. Connected in databases/apps.py."""

from databases.services import server_databases_drop
from servers.models import Server


def drop_server_databases(sender, *, server: Server, **kwargs) -> None:
    """(servers' files_removed.) A host that is unavailable keeps its databases until the beat sweep."""
    server_databases_drop(server=server)
