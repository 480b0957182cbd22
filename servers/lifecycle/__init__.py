"""A server's life: create, update, install, power, commands, suspension and delete.

Each topic is one module with both sides of the work: the request side (`server_<verb>`, called by the
API, the admin and schedules) checks and records the state change and queues a task; the execute side
(`server_<verb>_execute`, called by the thin task in servers/tasks.py) does the node work and records
how it ended. State changes go through servers.states; long work records itself in servers.jobs.
"""
