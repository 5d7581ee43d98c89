"""Shared test helpers: daemon processes, the notify socket, ports, waiting."""
