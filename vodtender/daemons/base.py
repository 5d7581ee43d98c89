"""What every daemon of the pipeline shares on top of the runtime's `Daemon`."""

from __future__ import annotations

from vodtender.pipeline.metrics import export_pipeline_metrics
from vodtender.runtime.daemon import Daemon


class PipelineDaemon(Daemon):
    """A daemon working on the shared pipeline: it exports the queue length like every other one."""

    @classmethod
    def export_metrics(cls) -> None:
        export_pipeline_metrics()
