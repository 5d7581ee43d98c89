"""`vodtender db copy` as an operator runs it: a year-sized SQLite archive moved to a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
import re
from pathlib import Path

from tests.helpers.postgres import PostgresCluster
from tests.helpers.processes import base_env, run_cli
from vodtender.ops.db_copy import COPIED_MODELS, open_source, shared_fields, table_checksum
from vodtender.runtime.db import open_database
from vodtender.runtime.migrations import migrate
from vodtender.runtime.models import ChatMessage, Vod, VodEvent

VODS, CHAT = 500, 100_000


def build_archive(path: Path) -> None:
    rnd = random.Random(7)
    db = open_database(str(path))
    migrate(db)
    start = dt.datetime(2025, 1, 1, 18, 0)
    with db.atomic():
        Vod.insert_many(
            [
                {
                    "twitch_vod_id": str(10_000 + n),
                    "channel": f"chan{n % 3}",
                    "title": f"stream {n} ✨",
                    "date": start + dt.timedelta(days=n // 2, hours=n % 2),
                    "processed": 1,
                    "download_state": "downloaded",
                    "download_bytes": rnd.randrange(2**36),
                    "youtube_url": f"https://youtu.be/{n:011d}",
                }
                for n in range(VODS)
            ]
        ).execute()
        VodEvent.insert_many(
            [{"vod_id": n + 1, "stage": "upload", "kind": "retry", "message": "503"} for n in range(0, VODS, 5)]
        ).execute()
        for first in range(0, CHAT, 5000):
            ChatMessage.insert_many(
                [
                    {
                        "msg_id": f"m{i:07d}",
                        "channel": f"chan{i % 3}",
                        "vod_id": str(10_000 + i * VODS // CHAT),
                        "username": f"viewer{rnd.randrange(5000)}",
                        "message": rnd.choice(["PogChamp", "hi ☕", "gg 'wp'"]),
                        "abs_timestamp": 1_735_750_000 + i * 0.37,
                        "rel_timestamp": (i % 200) * 0.37,
                        "badges": rnd.choice([None, "subscriber/12", "moderator/1"]),
                        "bits": i % 7,
                    }
                    for i in range(first, first + 5000)
                ]
            ).execute()
    db.close()


def test_a_big_archive_moves_to_postgres_verified_and_a_rerun_copies_nothing(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    source = tmp_path / "vodtender.db"
    build_archive(source)
    target = postgres_cluster.dsn(postgres_cluster.create_database("archive"))
    env = base_env(tmp_path)

    first = run_cli(tmp_path, "db", "copy", "--from", f"sqlite:///{source}", "--to", target, env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"copied {VODS + VODS // 5 + CHAT}" in first.stdout
    assert "chat_messages: 100000 copied, 0 already there, verified" in first.stderr
    assert re.search(r"chat_messages: \d+/100000 rows \(5\d%\)", first.stderr)  # plain progress lines off a tty

    # independently of the command's own verdict: same counts and checksums on both sides
    src, dst = open_source(str(source)), open_database(target)
    for model in COPIED_MODELS:
        fields = shared_fields(model, src)
        assert table_checksum(model, fields, src, 1000) == table_checksum(model, fields, dst, 1000), model
    assert ChatMessage.select().count() == CHAT and Vod.select().count() == VODS
    dst.close()
    src.close()

    again = run_cli(tmp_path, "db", "copy", "--from", str(source), "--to", target, env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "copied 0 row(s); all" in again.stdout
    assert "chat_messages: 0 copied, 100000 already there, verified" in again.stderr
