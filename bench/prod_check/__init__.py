"""`make prod-check`: the production path end to end (README "Production", issue 16).

The previous commit's image and this one's are built (scripts/image.sh); the compose stack starts on the
previous one behind its TLS proxy; through the proxy, over HTTPS, an administrator adds the test
environment's SSH node (engine 2, its sshd reached from the compose network through a relay on the
network's gateway), creates a Test Game server there, starts it and reads its console over WSS from both
web replicas. The stack is then upgraded to this commit's image with the server running: the server
keeps running and its console stays live (the new monitor reattached). One web replica and one worker
are killed and the panel still answers, and the server is stopped through the remaining worker.

Every figure goes to bench/RESULTS.md: image sizes, build times, the cold start, the upgrade.
Run it with `make prod-check` (scripts/prod-check.sh starts the test environment and sets the images).
"""
