"""A server's directory made and checked on the node's host, never through a symlink (why: servers/mounts.py).

The check is the node's own shell, each path one word: every directory from `/` down to the server's is
a real directory (no symlink, nothing writable by every user without the sticky bit) and the resolved
path is the path itself; missing directories are made one at a time (`mkdir` without `-p`, which fails
rather than follow a link that appeared meanwhile)."""

REFUSED = 3  # the check's exit code for "not a safe directory" (any other is a failure to run it)

# $1 the owner to give the server's directory ("" on SSH nodes: the login user makes it and so owns
# it), $2 the data dir, $3 the server's directory; then every directory from / down to $3.
_PREPARE = r"""
set -u
owner=$1 data=$2 dir=$3
shift 3
refuse() { printf '%s\n' "$1" >&2; exit 3; }
for path in "$@"; do
  [ -L "$path" ] && refuse "$path is a symbolic link"
  if [ ! -e "$path" ]; then
    if [ "$path" = "$dir" ]; then mkdir -m 750 -- "$path"; else mkdir -- "$path"; fi || exit 1
    if [ -n "$owner" ] && { [ "$path" = "$data/servers" ] || [ "$path" = "$data/backups" ]; }; then
      chown -h -- "$(stat -c %u:%g -- "$data")" "$path" || exit 1
    fi
  fi
  [ -L "$path" ] && refuse "$path is a symbolic link"
  [ -d "$path" ] || refuse "$path is not a directory"
  # Above the server's own directory (whose contents are the customer's anyway), anyone who can
  # write could swap the next directory for a link; the sticky bit (/tmp) keeps others' names safe.
  if [ "$path" != "$dir" ] && [ -n "$(find "$path" -prune -perm -0002 ! -perm -1000 -print)" ]; then
    refuse "$path is writable by every user"
  fi
done
resolved=$(cd -P -- "$dir" && pwd -P) || exit 1
[ "$resolved" = "$dir" ] || refuse "$dir resolves to $resolved"
if [ -n "$owner" ]; then chown -h -- "$owner" "$dir" || exit 1; fi
"""


class HostDirectories:
    """Mixed into NodeClient (`self.run` comes from Host)."""

    def make_checked_directory(self, path: str, *, data_dir: str, owner: str, chain: list[str]) -> None:
        """Make `path` (mode 750) if missing and check it and every directory of `chain` (from `/` down
        to it); NodeCommandFailed with code REFUSED and the reason on stderr when one is not safe.
        `owner` ("uid:gid", or "" to leave the login user's) gets `path`, and `<data_dir>/servers` the
        data dir's owner when this makes it (`<data_dir>/backups` likewise)."""
        self.run(["sh", "-c", _PREPARE, "prepare", owner, data_dir, path, *chain])
