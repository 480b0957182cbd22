"""The only door to nodes: Docker over `unix://` or `ssh://` (paramiko), plus host commands and SFTP.

Nothing else in Hearth imports `docker` or `paramiko` (tests/test_node_door.py holds the rule): callers
get our own answers (types.py) and our own errors (errors.py). Connections (connections.py) are cached
per node and rebuilt after any failure; every call has a timeout; an unreachable node raises
NodeUnavailable (the API answers 503 naming the node), a missing container ContainerNotFound, any other
refusal of the engine EngineRefused with its explanation. SSH host keys are pinned (see pinning.py): a
node without a key pins the one of its first authenticated connection, any other key is refused, and
`prove_host` checks a key the panel was told before anyone pins it.

The surface, by module: containers.py (create from our spec, start, signal, wait, remove, inspect,
list), container_io.py (stdin, output, events, stats, one file in or out), images.py, host.py (run a
command, stream out or in, SFTP), host_files.py and host_dirs.py (named operations on the node's files), backups.py with backups_scripts.py and
tools_image.py (backups made and restored in contained containers), files.py with
files_session.py, files_stream.py and files_image.py (a server's files, only ever through sftp-server in a
helper container that mounts nothing else), sftp_gateway.py (the SFTP gateway's SSH side). Private
attributes of docker-py are reached in sdk.py only.
"""

from nodes.client.backups import (  # noqa: F401 - the package's surface
    ArchiveMade,
    ArchiveStream,
    BackupCorrupt,
    BackupFailed,
    Backups,
    BackupTarget,
)
from nodes.client.base import ClientBase
from nodes.client.connections import (  # noqa: F401 - the package's surface
    DOCKER_API_VERSION,
    _cache_key,
    _close,
    _Connection,
    _connections,
    _connections_lock,
    _open,
    forget,
    prove_host,
)
from nodes.client.container_io import ContainerIO, StdinAttach  # noqa: F401
from nodes.client.containers import Containers
from nodes.client.errors import (  # noqa: F401 - the package's surface
    _TRANSPORT_ERRORS,
    ContainerNotFound,
    EngineRefused,
    FileTooLarge,
    HostKeyMismatch,
    ImagePullFailed,
    NodeCommandFailed,
    NodeUnavailable,
    NotARegularFile,
)
from nodes.client.files import Files, FilesHelper, FilesHelperDown  # noqa: F401
from nodes.client.files_image import FilesImageMissing  # noqa: F401
from nodes.client.files_session import FileEntry, FileRefused, FileSession  # noqa: F401
from nodes.client.host import Host
from nodes.client.host_dirs import HostDirectories
from nodes.client.host_files import HostFiles
from nodes.client.images import Images, _split_image  # noqa: F401
from nodes.client.keys import fingerprint as fingerprint
from nodes.client.keys import generate_keypair as generate_keypair  # callers use node_client.generate_keypair
from nodes.client.keys import load_private_key as load_private_key
from nodes.client.keys import normalize_host_key as normalize_host_key
from nodes.client.keys import parse_host_key as parse_host_key
from nodes.client.spec import create_from_spec  # noqa: F401
from nodes.client.streams import LiveLog, Stream  # noqa: F401
from nodes.client.types import ContainerEvent, ContainerState, ContainerStats  # noqa: F401


class NodeClient(
    Backups, Files, ContainerIO, Containers, Images, HostDirectories, HostFiles, Host, ClientBase
):
    """Docker, shell and SFTP access to one node. Get one with `client_for(node)`."""


def client_for(node) -> NodeClient:
    return NodeClient(node)


def baseline_api(client: NodeClient):
    """docker-py's own client over this node's connection: for the benchmarks' raw baselines only,
    which measure the SDK without the panel (bench/); the panel itself never uses it."""
    return client._api
