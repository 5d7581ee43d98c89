"""Pipeline logic shared by the daemons and the CLI: stages, claiming, errors, the breaker."""
