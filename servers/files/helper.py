"""One server's helper container and the sessions to it (nodes/client/files.py says why a container)."""

import contextlib

from nodes.client import FileSession, FilesHelper, FilesHelperDown, client_for
from servers import runtime
from servers.models import Server


def helper_for(server: Server) -> FilesHelper:
    """The server's directory at the template's data path (where the game sees it, so the game's
    absolute links mean the same), as the game's user."""
    return FilesHelper(
        server_id=str(server.pk),
        source=runtime.server_dir(server),
        mount=server.template.data_path,
        owner=runtime.container_user(server),
    )


def open_session(server: Server) -> FileSession:
    """A FileSession on the server's files, starting its helper when there is none (after checking the
    server's directory on the node, as before every container start). Close it when done."""
    client = client_for(server.node)
    helper = helper_for(server)
    try:
        return client.files_session(helper)
    except FilesHelperDown:
        runtime.ensure_directory(client, server)
        client.start_files_helper(helper)
        return client.files_session(helper)


@contextlib.contextmanager
def session(server: Server):
    """`with session(server) as files:` — open_session, closed afterwards."""
    files = open_session(server)
    try:
        yield files
    finally:
        files.close()


def remove_helper(server: Server) -> None:
    """Remove the server's helper (before its directory is deleted, moved or restored)."""
    client_for(server.node).remove_container(helper_for(server).name)
