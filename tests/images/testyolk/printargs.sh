#!/bin/sh
# Hearth's test yolk: prints each of its arguments on a line of its own, as `[argument]`, then runs the
# test game, so a test reads exactly which words a start command gave the program.
for argument in "$@"; do
    printf '[%s]\n' "$argument"
done
exec /usr/local/bin/testgame
