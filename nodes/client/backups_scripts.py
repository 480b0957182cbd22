"""The bash scripts the backup containers run (nodes/client/backups.py). Every value reaches them as
an argument ("$1"…), never spliced into the script's text: an ignore pattern is one word of tar's argv.

Exit codes the panel tells apart: 0 done, 10 checksum mismatch, 11 archive missing, anything else a
failure whose reason is on stderr."""

CORRUPT, MISSING = 10, 11

# tar exits 1 when a file changed while it was read (a running server's log, say): still an archive.
_PROLOGUE = r"""
set -u -o pipefail
shopt -s dotglob nullglob
# zstd gets every core but one: tar reading the files needs one too (on 2 cores, -T0 made the whole
# pipeline slower than a single zstd thread; bench/backup).
compressor() {
  local cores
  cores=$(nproc 2>/dev/null || echo 2)
  case $1 in
    zstd) echo "zstd -T$((cores > 2 ? cores - 1 : 1)) -3 -q" ;;
    gzip) echo 'gzip -6' ;;
    *) echo "unknown compression $1" >&2; exit 2 ;;
  esac
}
# The ignore files of the server (Hearth's, and Pterodactyl's for its eggs): one pattern a line, #
# comments; a leading or trailing / is dropped (tar's patterns match any trailing part of a path).
# Negations (!) are not supported by tar and are skipped. The game writes these files: each must be a
# regular file (not a link, a fifo or a device), is opened once and checked through that descriptor,
# and only its first 64 KiB and MAX_PATTERNS patterns count (a bigger one is refused, not cut short).
MAX_PATTERNS=1000
excludes=()
add_excludes() {
  local mount=$1; shift
  local pattern file
  for pattern in "$@"; do excludes+=("--exclude=$pattern"); done
  for file in "$mount/.hearthignore" "$mount/.pteroignore"; do
    [ -e "$file" ] || [ -L "$file" ] || continue
    read_ignore_file "$file" || exit 1
  done
}
is_regular() { case $1 in 'regular file'|'regular empty file') return 0 ;; esac; return 1; }
read_ignore_file() {
  local file=$1 name=${1##*/} line count=0
  is_regular "$(stat -c %F -- "$file")" || { echo "$name is not a regular file (a link?)" >&2; return 1; }
  exec 4< "$file" || { echo "$name could not be opened" >&2; return 1; }
  is_regular "$(stat -L -c %F /proc/self/fd/4)" || { echo "$name is not a regular file" >&2; return 1; }
  [ "$(stat -L -c %s /proc/self/fd/4)" -le 65536 ] || { echo "$name is over 64 KiB" >&2; return 1; }
  shopt -s lastpipe  # the loop below runs in this shell, so what it adds stays
  head -c 65536 <&4 | while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    case $line in ''|'#'*|'!'*) continue ;; esac
    line=${line#/}; line=${line%/}
    [ -n "$line" ] || continue
    count=$((count + 1))
    [ "$count" -le "$MAX_PATTERNS" ] || { echo "$name has over $MAX_PATTERNS patterns" >&2; return 1; }
    excludes+=("--exclude=$line")
  done
  local code=$?
  exec 4<&-
  return "$code"
}
# --sparse: a file with holes (an 8 GB `truncate`) is stored as its data, not as gigabytes of zeros
# read and, at a restore, written. The panel's own staging names (.hearth-*) are never archived.
create() {  # $1 the directory, $2 the compressor, $3 the archive to write ("-": stdout)
  tar --create --sparse --file="$3" --directory="$1" --use-compress-program="$2" \
    --warning=no-file-changed --warning=no-file-removed --warning=no-file-shrank \
    --exclude='./.hearth-*' "${excludes[@]}" .
}
tar_ok() { [ "$1" = 0 ] || [ "$1" = 1 ]; }
# OpenSSL's sha256 uses the CPU's SHA instructions: coreutils' sha256sum ran at a fifth of its speed.
sha256() { openssl dgst -sha256 -r | { read -r sum _ && echo "$sum"; }; }
"""

# $1 compression, $2 temporary name, $3 final name, $4 the server's mount, then the patterns.
# Prints the sha256, then the size. The archive has its final name only once complete; any
# failure (or a kill: the temporary name is what the next run's clean-up removes) leaves no archive.
WRITE = (
    _PROLOGUE
    + r"""
program=$(compressor "$1") || exit 2
tmp=/backups/$2 final=/backups/$3 mount=$4
shift 4
add_excludes "$mount" "$@"
trap 'rm -f -- "$tmp"' EXIT
# tar writes the file; the hash reads it right behind, from the page cache, until tar has ended (tail
# reads what is left once its writer is gone). Through a pipe to tee, or hashed after, it took 1.3 to
# 1.6 times as long (bench/backup). Were a byte ever missed, the checksum would refuse the restore.
: > "$tmp" || exit 1
create "$mount" "$program" "$tmp" &
writer=$!
sum=$(tail -c +1 -s 0.05 --pid="$writer" -f -- "$tmp" | sha256)
hashed=$?
wait "$writer"
code=$?
tar_ok "$code" || { echo "tar failed (exit $code)" >&2; exit 1; }
[ "$hashed" = 0 ] && [ -n "$sum" ] || { echo "the archive could not be read back" >&2; exit 1; }
echo "$sum"
mv -f -- "$tmp" "$final" || exit 1
trap - EXIT
stat -c %s -- "$final"
"""
)

# $1 compression, $2 the server's mount, then the patterns: the archive on stdout.
STREAM = (
    _PROLOGUE
    + r"""
program=$(compressor "$1") || exit 2
mount=$2
shift 2
add_excludes "$mount" "$@"
create "$mount" "$program" -
code=$?
tar_ok "$code" || { echo "tar failed (exit $code)" >&2; exit 1; }
"""
)

# $1 the archive's name: its bytes on stdout.
READ = r"""
[ -f "/backups/$1" ] || { echo "the archive /backups/$1 is missing" >&2; exit 11; }
exec cat -- "/backups/$1"
"""

# $1 temporary name, $2 final name, $3 the most bytes it may have (0: any), $4 the sha256 it must
# have ("-": any): stdin becomes the archive, renamed to its final name only when both hold (a replaced
# S3 object of a terabyte stops at the recorded size). Prints the sha256 and the size.
RECEIVE = (
    _PROLOGUE
    + r"""
tmp=/backups/$1 final=/backups/$2 most=$3 expected=$4
trap 'rm -f -- "$tmp"' EXIT
if [ "$most" -gt 0 ]; then
  head -c "$((most + 1))" > "$tmp" || { echo "writing the archive failed (no space?)" >&2; exit 1; }
  size=$(stat -c %s -- "$tmp") || exit 1
  [ "$size" -le "$most" ] || { echo "it is larger than the $most bytes recorded" >&2; exit 10; }
else
  cat > "$tmp" || { echo "writing the archive failed (no space?)" >&2; exit 1; }
fi
sum=$(sha256 < "$tmp") || exit 1
echo "$sum"
[ "$expected" = - ] || [ "$sum" = "$expected" ] ||
  { echo "its sha256 is $sum, not the $expected recorded" >&2; exit 10; }
mv -f -- "$tmp" "$final" || exit 1
trap - EXIT
stat -c %s -- "$final"
"""
)

# $1 compression, $2 the archive's name, $3 its expected sha256, $4 the server's mount, $5 a tag for
# the staging names, $6 the most bytes its files may take (the server's disk limit; 0: any). Checks the
# archive, extracts it into a staging directory inside the server's, and only then swaps the server's
# entries for the staging's; any failure puts the originals back. The archive is opened once: what is
# hashed is what is extracted (/proc/self/fd/3 opens the same file again, from its start).
# GNU tar, not root, keeps no owners, strips leading /, skips members with .., and makes a symlink
# that is absolute or has .. only once everything else is extracted (so nothing is written through
# one); the container sees nothing of the node anyway but these two directories, the archive read-only.
# The tar stream is cut after the limit (every byte of a member's data is a byte on the disk; a sparse
# member's holes are none), so a bomb fills the staging directory to the limit at most, then fails.
RESTORE = (
    _PROLOGUE
    + r"""
program=$(compressor "$1") || exit 2
archive=/backups/$2 expected=$3 mount=$4 tag=$5 most=$6
[ -f "$archive" ] && exec 3< "$archive" || { echo "the archive is missing" >&2; exit 11; }
sum=$(sha256 < /proc/self/fd/3) || { echo "the archive could not be read" >&2; exit 1; }
[ "$sum" = "$expected" ] || { echo "its sha256 is $sum, not the $expected recorded" >&2; exit 10; }
staging=$mount/.hearth-restore-$tag old=$mount/.hearth-replaced-$tag
mkdir -- "$staging" || exit 1
at_most() { if [ "$most" -gt 0 ]; then head -c "$((most + 1))"; else cat; fi; }
# tar stops reading at the archive's end; the rest is drained so that only the cut makes the
# decompressor fail (its exit says the archive held more than the limit).
$program -d -c < /proc/self/fd/3 | at_most |
  { tar --extract --file=- --directory="$staging" --no-same-owner --no-overwrite-dir; code=$?;
    cat > /dev/null; exit "$code"; }
codes=("${PIPESTATUS[@]}")
if [ "${codes[0]}" != 0 ] || [ "${codes[2]}" != 0 ]; then
  rm -rf -- "$staging"
  if [ "${codes[0]}" != 0 ] && [ "$most" -gt 0 ]; then
    echo "its files take more than the server's disk limit of $((most / 1048576)) MB" >&2
  else
    echo "the archive could not be extracted" >&2
  fi
  exit 1
fi
mkdir -- "$old" || { rm -rf -- "$staging"; exit 1; }
placed=()
rollback() {
  local name entry
  for name in "${placed[@]}"; do mv -- "$mount/$name" "$staging/"; done
  for entry in "$old"/*; do mv -- "$entry" "$mount/"; done
  rmdir -- "$old"
  rm -rf -- "$staging"
  echo "$1" >&2
  exit 1
}
for entry in "$mount"/*; do
  [ "$entry" = "$staging" ] || [ "$entry" = "$old" ] && continue
  mv -- "$entry" "$old/" || rollback "could not move ${entry##*/} aside"
done
for entry in "$staging"/*; do
  mv -- "$entry" "$mount/" || rollback "could not move ${entry##*/} into place"
  placed+=("${entry##*/}")
done
rmdir -- "$staging"
rm -rf -- "$old" || echo "some replaced files could not be removed (${old##*/})" >&2
exit 0
"""
)
