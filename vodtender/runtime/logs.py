"""Logging for journald: one event a line, sd-daemon priority prefix, `key=value` context.

    log = get_logger("downloader")
    log.info("download started", vod_id=123, attempt=2)
    -> <6>downloader: download started vod_id=123 attempt=2

Every line, whatever logged it (a library included), passes through the one redaction
(runtime/redact.py): known secrets and secret-looking fields are masked.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, TextIO

from vodtender.runtime.redact import redact, register_secret

# register_secret lives in runtime/redact.py; callers that log have always found it here.
__all__ = ["ContextLogger", "JournalFormatter", "TerminalFormatter", "get_logger", "register_secret", "setup_logging"]

if TYPE_CHECKING:
    from types import TracebackType
    from typing import TypeAlias

    # What `exc_info=` takes, as the standard library's logging takes it.
    ExcInfo: TypeAlias = (
        bool
        | BaseException
        | tuple[type[BaseException], BaseException, TracebackType | None]
        | tuple[None, None, None]
        | None
    )

# sd-daemon(3) priorities
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


def _format_value(value: Any) -> str:
    """A context value, redacted before it is quoted (quoting would hide an echoed JSON body's fields)."""
    text = redact(str(value))
    if text == "" or any(c in text for c in ' "=\n\t'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        name = record.name.removeprefix("vodtender.")
        text = redact(record.getMessage())
        context = getattr(record, "context", None)
        if context:
            text += " " + " ".join(f"{k}={_format_value(v)}" for k, v in context.items() if v is not None)
        if record.exc_info:
            # Keep a traceback in one journal entry: newlines escaped, priority kept.
            text += " exc=" + _format_value(self.formatException(record.exc_info))
        return f"<{priority}>{name}: " + text.replace("\n", "\\n")


class TerminalFormatter(JournalFormatter):
    """For a person at a terminal: the priority as a word, and only from warnings up, not `<6>`."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        body = line[line.index(">") + 1 :]
        return body if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {body}"


def _on_terminal() -> bool:
    """stderr is a terminal and not journald's stream (JOURNAL_STREAM names the one systemd gave)."""
    return sys.stderr.isatty() and not os.environ.get("JOURNAL_STREAM")


class ContextLogger(logging.LoggerAdapter[logging.Logger]):
    """`log.info("msg", key=value)`: keyword arguments become the line's context."""

    _RESERVED = ("exc_info", "stack_info", "stacklevel", "extra")

    if TYPE_CHECKING:
        # The calling convention, for the type checker: any keyword is a context field.  At run time
        # LoggerAdapter's own methods run, and process() below sorts the keywords.
        def debug(self, msg: object, *args: object, exc_info: ExcInfo = None, **fields: object) -> None: ...
        def info(self, msg: object, *args: object, exc_info: ExcInfo = None, **fields: object) -> None: ...
        def warning(self, msg: object, *args: object, exc_info: ExcInfo = None, **fields: object) -> None: ...
        def error(self, msg: object, *args: object, exc_info: ExcInfo = None, **fields: object) -> None: ...
        def exception(self, msg: object, *args: object, exc_info: ExcInfo = True, **fields: object) -> None: ...
        def critical(self, msg: object, *args: object, exc_info: ExcInfo = None, **fields: object) -> None: ...

    def process(self, msg: object, kwargs: MutableMapping[str, object]) -> tuple[object, MutableMapping[str, object]]:
        context = dict(self.extra or {})
        for key in list(kwargs):
            if key not in self._RESERVED:
                context[key] = kwargs.pop(key)
        kwargs["extra"] = {"context": context}
        return msg, kwargs

    def bind(self, **context: object) -> ContextLogger:
        """A logger that adds this context to every line (e.g. vod_id for one download)."""
        return ContextLogger(self.logger, {**(self.extra or {}), **context})


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the time (tests and `vodtender run` replace it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def get_logger(name: str) -> ContextLogger:
    return ContextLogger(logging.getLogger(f"vodtender.{name}"), {})


def setup_logging(level: str = "info") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(TerminalFormatter() if _on_terminal() else JournalFormatter())
    root.addHandler(handler)
    root.setLevel(logging.getLevelName(level.upper()) if level.upper() in logging._nameToLevel else logging.INFO)
    # Chatty libraries stay at warning unless we debug.
    quiet = logging.DEBUG if level.lower() == "debug" else logging.WARNING
    for lib in ("urllib3", "googleapiclient", "google", "irc", "peewee", "jaraco"):
        logging.getLogger(lib).setLevel(quiet)
