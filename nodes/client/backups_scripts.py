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
# A directory moves to another parent only with write permission on itself (its ".." changes), and the
# container has no CAP_DAC_OVERRIDE: a read-only one gets u+w for the move, then its mode back. Nothing
# is ever moved onto an existing name (mv would put a directory inside it).
move() {  # $1 an entry, $2 the directory it goes into
  local entry=$1 into=$2/${1##*/} mode=
  [ -e "$into" ] || [ -L "$into" ] && { echo "${into##*/} is already in ${2##*/}" >&2; return 1; }
  if [ -d "$entry" ] && [ ! -L "$entry" ] && [ ! -w "$entry" ]; then
    mode=$(stat -c %a -- "$entry") && chmod u+w -- "$entry" || return 1
  fi
  mv -T -- "$entry" "$into" || { [ -z "$mode" ] || chmod "$mode" -- "$entry"; return 1; }
  [ -z "$mode" ] || chmod "$mode" -- "$into"
}
rm_tree() {  # rm needs write permission on every directory it empties (chmod -R follows no link)
  [ -e "$1" ] || return 0
  chmod -R u+w -- "$1" 2>/dev/null
  rm -rf -- "$1"
}
# What a restore killed midway left in the server's directory, undone: its staging directory
# (.hearth-restore-TAG), the originals it set aside (.hearth-replaced-TAG) and, once those were all
# aside, the mark .hearth-placing-TAG (what is in the directory then came from the archive).
# Originals are never deleted here: they go back; a finished swap's are .hearth-discard-TAG already.
recover() {  # $1 the server's mount
  local mount=$1 old tag staging entry
  for old in "$mount"/.hearth-replaced-*; do
    tag=${old##*/.hearth-replaced-} staging=$mount/.hearth-restore-${old##*/.hearth-replaced-}
    if [ -e "$mount/.hearth-placing-$tag" ]; then  # it was placing the archive's entries: they go
      [ -d "$staging" ] || mkdir -- "$staging" || return 1
      for entry in "$mount"/*; do
        case ${entry##*/} in .hearth-*) continue ;; esac
        move "$entry" "$staging" || return 1
      done
    fi
    for entry in "$old"/*; do move "$entry" "$mount" || return 1; done
    rm_tree "$old" || return 1
    rm -f -- "$mount/.hearth-placing-$tag"
    echo "put back the files an interrupted restore had set aside (.hearth-replaced-$tag)" >&2
  done
  for entry in "$mount"/.hearth-restore-* "$mount"/.hearth-discard-* "$mount"/.hearth-placing-*; do
    rm_tree "$entry" || return 1
  done
}
# A backup reads the directory as it is: half swapped, it would miss the originals set aside.
refuse_half_swapped() {  # $1 the server's mount
  local old
  for old in "$1"/.hearth-replaced-*; do
    echo "an interrupted restore left the server's files half swapped (${old##*/}): restore a" \
      "backup again (it first puts the set-aside files back)" >&2
    exit 1
  done
}
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
refuse_half_swapped "$mount"
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
refuse_half_swapped "$mount"
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
recover "$mount" || { echo "an interrupted restore's leftovers could not be put back" >&2; exit 1; }
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
  rm_tree "$staging"
  if [ "${codes[0]}" != 0 ] && [ "$most" -gt 0 ]; then
    echo "its files take more than the server's disk limit of $((most / 1048576)) MB" >&2
  else
    echo "the archive could not be extracted" >&2
  fi
  exit 1
fi
mkdir -- "$old" || { rm_tree "$staging"; exit 1; }
failed() { recover "$mount" || echo "and the files set aside could not all be put back" >&2; echo "$1" >&2; exit 1; }
# Aside: every entry of the server's (not the panel's own) into $old.
for entry in "$mount"/*; do
  case ${entry##*/} in .hearth-*) continue ;; esac
  move "$entry" "$old" || failed "could not move ${entry##*/} aside"
done
# From here on, what is in the server's directory came from the archive (recover tells by this mark).
: > "$mount/.hearth-placing-$tag" || failed "could not mark the swap"
for entry in "$staging"/*; do
  case ${entry##*/} in .hearth-*) continue ;; esac  # never one of the panel's names from an archive
  move "$entry" "$mount" || failed "could not move ${entry##*/} into place"
done
# Done: the replaced files are only litter now (renamed first, so an interruption cannot undo it).
mv -T -- "$old" "$mount/.hearth-discard-$tag" || failed "could not finish the swap"
rm -f -- "$mount/.hearth-placing-$tag"
rm_tree "$staging"
rm_tree "$mount/.hearth-discard-$tag" || echo "some replaced files could not be removed (.hearth-discard-$tag)" >&2
exit 0
"""
)

# $1 the server's mount: undo what a restore killed midway left (the reaper, once its container is gone).
RECOVER = (
    _PROLOGUE
    + r"""
recover "$1" || { echo "an interrupted restore's leftovers could not all be put back" >&2; exit 1; }
"""
)
