"""Durable work units: enqueue in the caller's transaction; claim, heartbeat, finish, reap."""
