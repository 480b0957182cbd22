from tests.servers.conftest import (  # noqa: F401 - the same real-engine fixtures
    _eager_tasks,
    _fresh_connections,
    _no_leftover_containers,
    game_node,
    game_template,
    location,
    make_node,
    monitor,
)
