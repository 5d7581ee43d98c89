"""The web viewer: the archive, each VOD played from its local file with its chat replayed beside it, the
status, the live recordings, and a JSON API (openapi.json), served by `vodtender web` (web/daemon.py)."""
