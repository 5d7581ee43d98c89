"""Where a VOD's file goes: the name template, sanitised; and where its partial download lives."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from vodtender.runtime.models import Vod

MAX_NAME_BYTES = 240  # below the usual 255-byte limit, leaving room for a suffix
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f<>:\"|?*]+")
PARTIAL_DIR = ".partial"


def sanitise(text: str, max_bytes: int = 120) -> str:
    """One safe path component: no separators, control characters or reserved names; bounded length."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    text = _UNSAFE.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    encoded = text.encode("utf-8")[:max_bytes]
    text = encoded.decode("utf-8", errors="ignore").strip(" .")
    return text or "untitled"


def target_path(data_dir: Path, template: str, vod: Vod, ext: str) -> Path:
    """The final file for `vod` under `data_dir`; the template's extension follows the real container."""
    date = vod.date.strftime("%Y-%m-%d") if vod.date else "undated"
    fields = {
        "channel": sanitise(vod.channel or "unknown", 60),
        "date": date,
        "id": sanitise(vod.twitch_vod_id, 40),
        "title": sanitise(vod.title or ""),
    }
    try:
        rendered = template.format(**fields)
    except (KeyError, IndexError, ValueError):  # a bad template must not stop downloads: use the default
        rendered = "{channel}/{date}_{id}_{title}.mp4".format(**fields)
    parts = [sanitise(p, MAX_NAME_BYTES) for p in Path(rendered).parts if p not in ("", ".", "..", "/")]
    relative = Path(*parts) if parts else Path(fields["id"])
    name = relative.name
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = stem.encode("utf-8")[: MAX_NAME_BYTES - len(ext) - 1].decode("utf-8", errors="ignore")
    return data_dir / relative.parent / f"{stem}.{ext}"


def with_id(path: Path, vod: Vod) -> Path:
    """`path` with the VOD's id added to its name: the name of a file whose template gave a name
    another VOD's file already has (a template without `{id}`)."""
    suffix = f" [{sanitise(vod.twitch_vod_id, 40)}]"
    stem = path.stem.encode("utf-8")[: MAX_NAME_BYTES - len(suffix) - len(path.suffix)].decode("utf-8", errors="ignore")
    return path.with_name(f"{stem}{suffix}{path.suffix}")


def partial_path(data_dir: Path, vod: Vod) -> Path:
    """The file a download is written to until it is verified (same filesystem: rename is atomic)."""
    return data_dir / PARTIAL_DIR / f"{sanitise(vod.twitch_vod_id, 60)}.part"
