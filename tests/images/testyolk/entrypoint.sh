#!/bin/bash
# Hearth's test yolk: the entrypoint of Pterodactyl's yolk images (java, debian, alpine…) as they are
# today, for the tests of templates that run the image's entrypoint (Template.use_image_entrypoint).
# Written for Hearth from the yolks' documented behaviour, not copied. The image (hearth/testyolk,
# built by scripts/testenv.sh with `docker import`) has busybox, a static bash as /bin/bash, this
# file as /entrypoint.sh (its CMD: /bin/bash /entrypoint.sh), the test game and `printargs`.

# Default the time zone to UTC.
TZ=${TZ:-UTC}
export TZ

# The container's address on its network, for games that bind to it.
INTERNAL_IP=$(ip route get 1 2>/dev/null | awk '{print $(NF-2);exit}')
export INTERNAL_IP

cd /home/container || exit 1

# {{VAR}} → ${VAR}, then evaluate: the yolks' way of expanding the start command. It removes quotes
# and expands once; `exec env` then splits the result into words and globs each of them.
PARSED=$(echo "${STARTUP}" | sed -e 's/{{/${/g' -e 's/}}/}/g' | eval echo "$(cat -)")

printf 'container@pterodactyl~ %s\n' "$PARSED"
# shellcheck disable=SC2086
exec env ${PARSED}
