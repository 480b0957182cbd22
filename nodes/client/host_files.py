"""Named operations on a node's files, so callers pass paths and never shell text.

Each runs as the node's command user (the SSH login user, or the panel's own user on a local node)
and treats every path as one word ("$1", never spliced into the script). `--one-file-system` and
`-xdev` keep removals and sizes inside the tree even if a mount appears in it."""

# Both sizes of a tree, in MB: what its files say they hold (a sparse file counts whole) and the blocks
# they take (many small files, preallocated space). The game runs as the node's login user, so it can
# `chmod 000` a directory it filled and `du` (as that user) would skip it: directories first get their
# owner's read and search bits back, each before find descends into it (`-exec … \;`, not `+`).
_DISK_USAGE = (
    'find -P "$1" -xdev -type d ! -perm -u=rx -exec chmod u+rx -- {} \\; 2>/dev/null; '
    'du -s -x -B1M --apparent-size -- "$1" 2>/dev/null; du -s -x -B1M -- "$1" 2>/dev/null'
)

# A transfer's staging directory is made under its job's lease; the receiving shell writes its pid
# there, then tar unpacks into its `tree`. A cleanup kills exactly that process (pid and working
# directory both match) before removing the directory, and a receiver that starts after the cleanup
# finds no directory to enter: nothing of a reaped or dead worker's can be written afterwards.
_RECEIVE = 'cd "$1" && echo $$ > pid && mkdir -m 750 tree && cd tree && exec tar --no-same-owner -xf -'
_CLEAR = r"""
prefix=$1; shift
for dir in "$prefix"-*; do
  [ -d "$dir" ] || continue
  real=$(cd "$dir" && pwd -P) || continue
  pid=$(cat "$dir/pid" 2>/dev/null) || pid=
  case $pid in
    '' | *[!0-9]*) ;;
    *) n=0
       while [ $n -lt 100 ]; do
         case $(readlink "/proc/$pid/cwd" 2>/dev/null) in
           "$real" | "$real/tree") kill -KILL "$pid" 2>/dev/null; sleep 0.1; n=$((n + 1)) ;;
           *) break ;;
         esac
       done ;;
  esac
  rm -rf --one-file-system "$dir"
done
[ $# -eq 0 ] || rm -rf --one-file-system "$@"
"""
_INSTALL = 'rm -rf --one-file-system "$2" && mkdir -p "${2%/*}" && mv "$1/tree" "$2" && rm -rf "$1"'


class HostFiles:
    """Mixed into NodeClient (`self.run`, `self.read_stream`, `self.write_stream` come from Host)."""

    def login_user(self) -> str:
        """ "uid:gid" of the user the node runs commands as."""
        return self.run(["sh", "-c", 'echo "$(id -u):$(id -g)"']).strip()

    def make_directories(self, path: str) -> None:
        self.run(["mkdir", "-p", path])

    def is_directory(self, path: str) -> bool:
        return self.run(["sh", "-c", 'test -d "$1" && echo yes || :', "isdir", path]).strip() == "yes"

    def chown_tree(self, owner: str, path: str) -> None:
        self.run(["chown", "-R", owner, path])

    def remove_tree(self, path: str) -> None:
        """Remove a directory tree, never crossing into another file system mounted inside it."""
        self.run(["rm", "-rf", "--one-file-system", path])

    def disk_usage_mb(self, path: str) -> int:
        """The larger of the tree's apparent and allocated size in MB (0 when it is missing)."""
        out = self.run(["sh", "-c", _DISK_USAGE, "du", path], check=False)
        sizes = [int(line.split()[0]) for line in out.splitlines() if line.strip()[:1].isdigit()]
        return max(sizes, default=0)

    def archive_tree(self, directory: str):
        """A tar of the directory's contents, streamed in chunks (stopping early ends the tar)."""
        return self.read_stream(["tar", "-C", directory, "-cf", "-", "."])

    def receive_into_staging(self, staging: str, chunks, *, exit_timeout: float) -> str:
        """Unpack the tar in `chunks` into `<staging>/tree` (unowned: files get the node user's), the
        receiver's pid written in `staging` so that `clear_staging` can end it."""
        return self.write_stream(
            ["sh", "-c", _RECEIVE, "receive", staging], chunks, exit_timeout=exit_timeout
        )

    def clear_staging(self, prefix: str, *also: str) -> None:
        """Remove every staging directory `<prefix>-*` (killing its receiver first), then `also`."""
        self.run(["sh", "-c", _CLEAR, "clear", prefix, *also])

    def install_staged(self, staging: str, target: str) -> None:
        """Replace `target` with `<staging>/tree` and remove the staging directory."""
        self.run(["sh", "-c", _INSTALL, "install", staging, target])
