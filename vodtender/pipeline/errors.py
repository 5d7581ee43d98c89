"""Error classes and retry timing, the same for every stage.

transient: this attempt failed, a later one may work (network, 5xx, timeouts) -> retry
           with exponential backoff and jitter, up to the stage's max attempts.
fatal:     this VOD cannot be processed (deleted, 404, sub-only without a token) -> mark it
           (`processing_error`), never retry on its own.
systemic:  nothing can work right now (bad credentials, disk full, outage) -> the VOD is
           not at fault and waits; the failure counts towards the circuit breaker.
"""

from __future__ import annotations

import enum


class ErrorClass(enum.StrEnum):
    TRANSIENT = "transient"
    FATAL = "fatal"
    SYSTEMIC = "systemic"
    CANCELLED = "cancelled"


class PipelineError(Exception):
    """An error a stage has already classified."""

    def __init__(self, error_class: ErrorClass, message: str):
        super().__init__(message)
        self.error_class = error_class


class TransientError(PipelineError):
    def __init__(self, message: str):
        super().__init__(ErrorClass.TRANSIENT, message)


class FatalError(PipelineError):
    def __init__(self, message: str):
        super().__init__(ErrorClass.FATAL, message)


class SystemicError(PipelineError):
    """`certain`: the host itself shows it (a full disk, a missing tool), so it counts for the breaker
    even when the same VOD fails again; otherwise (network down, a refused token) a repeat of the
    same VOD is not counted, in case the VOD is at fault after all."""

    def __init__(self, message: str, *, certain: bool = False):
        super().__init__(ErrorClass.SYSTEMIC, message)
        self.certain = certain


class Cancelled(PipelineError):
    def __init__(self, message: str = "cancelled by operator"):
        super().__init__(ErrorClass.CANCELLED, message)
