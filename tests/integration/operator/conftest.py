"""The operator tier reuses the end-to-end world (Helix, IRC, Twitch, YouTube stand-ins) and Stack."""

from tests.integration.e2e.conftest import make_stack, seed, vod_cache, world  # noqa: F401 (fixtures)
