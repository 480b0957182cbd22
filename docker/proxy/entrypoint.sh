#!/bin/bash
# The proxy's start: a self-signed certificate for HEARTH_TLS_NAMES unless one is in /etc/hearth-tls
# (mount your own cert.pem and key.pem there), then nginx with HEARTH_PUBLIC_URL written into the
# redirect from plain HTTP, and a watch that keeps its upstream to the web replicas Docker's DNS names.
set -euo pipefail
tls=/etc/hearth-tls
names=${HEARTH_TLS_NAMES:-localhost,127.0.0.1}
if [ ! -s "$tls/cert.pem" ] || [ ! -s "$tls/key.pem" ]; then
    san=
    IFS=, read -ra entries <<<"$names"
    for name in "${entries[@]}"; do
        name=${name// /}
        [ -n "$name" ] || continue
        if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then san+="IP:$name,"; else san+="DNS:$name,"; fi
    done
    mkdir -p "$tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
        -subj "/CN=${entries[0]}" -addext "subjectAltName=${san%,}" \
        -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" \
        -keyout "$tls/key.pem.new" -out "$tls/cert.pem.new" 2>/dev/null
    chmod 600 "$tls/key.pem.new"
    mv "$tls/key.pem.new" "$tls/key.pem"
    mv "$tls/cert.pem.new" "$tls/cert.pem"
    echo "hearth-proxy: generated a self-signed certificate for $names ($tls/cert.pem)" >&2
fi
public=${HEARTH_PUBLIC_URL:-https://localhost}
[[ $public =~ ^https://[^/\"\;\ ]+$ ]] || { echo "hearth-proxy: HEARTH_PUBLIC_URL must be https://host[:port], got '$public'" >&2; exit 1; }
# Only the upstream's address header is optional (bench/prod_check reads which replica answered).
upstream_header=
[ "${HEARTH_PROXY_UPSTREAM_HEADER:-0}" = 1 ] && upstream_header='add_header X-Hearth-Upstream $upstream_addr always;'
sed -e "s|@PUBLIC_URL@|$public|g" -e "s|@UPSTREAM_HEADER@|$upstream_header|" \
    /etc/hearth-proxy/nginx.conf.in >/etc/nginx/nginx.conf

# nginx 1.22 resolves an upstream's name once, at start: every address the name has then, never again.
web=${HEARTH_PROXY_UPSTREAM:-web:8000}
web_host=${web%:*} web_port=${web##*:}
upstream=/etc/nginx/hearth-upstream.conf
render_upstream() { # rewrites the upstream block when the replicas changed; fails when they did not
    local servers="" address block
    for address in $(getent ahostsv4 "$web_host" | awk '{print $1}' | sort -u); do
        servers+="    server $address:$web_port max_fails=1 fail_timeout=5s;"$'\n'
    done
    # None yet (the replicas are starting): 502 until the next look finds them.
    [ -n "$servers" ] || servers="    server 127.0.0.1:$web_port down;"$'\n'
    block="upstream hearth_web {"$'\n'"$servers}"
    [ "$block" != "$(cat "$upstream" 2>/dev/null)" ] || return 1
    printf '%s\n' "$block" >"$upstream.new"
    mv "$upstream.new" "$upstream"
}
render_upstream || true
nginx -t -q
if [ "${1:-}" = nginx ]; then
    (while sleep "${HEARTH_PROXY_WATCH_SECONDS:-2}"; do
        if render_upstream; then
            echo "hearth-proxy: web replicas now: $(grep -o 'server [0-9.:]*' "$upstream" | cut -d' ' -f2 | tr '\n' ' ')" >&2
            nginx -s reload || true
        fi
    done) &
fi
exec "$@"
