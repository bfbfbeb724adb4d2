"""The registry's rules, over the two store interfaces. Split by concern; ``Service`` joins them."""

from __future__ import annotations

import threading
from types import TracebackType

from modelreg.service.aliases import AliasesMixin
from modelreg.service.blob_access import BlobAccessMixin
from modelreg.service.context import Context
from modelreg.service.evaluations import EvaluationsMixin
from modelreg.service.experiments import ExperimentsMixin
from modelreg.service.exports import ExportsMixin
from modelreg.service.files import FilesMixin
from modelreg.service.importing import ImportMixin
from modelreg.service.inferences import InferencesMixin
from modelreg.service.insights import InsightsMixin
from modelreg.service.jobs import JobsMixin
from modelreg.service.maintenance import MaintenanceMixin
from modelreg.service.projects import ProjectsMixin
from modelreg.service.runs import Run, RunsMixin
from modelreg.service.tokens import TokensMixin
from modelreg.service.watch import WatchMixin


class Service(ExperimentsMixin, EvaluationsMixin, InferencesMixin, RunsMixin, ProjectsMixin, AliasesMixin,
              WatchMixin, InsightsMixin, JobsMixin, ExportsMixin, FilesMixin, MaintenanceMixin, ImportMixin,
              TokensMixin, BlobAccessMixin):
    """Every operation of the SDK (the ``Registry`` protocol), in-process. ``modelreg.connect()`` returns one."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._resolved = {}
        self._resolved_lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.ctx.meta.url

    def close(self) -> None:
        self.ctx.meta.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<modelreg registry {self.ctx.meta.url} artifacts={self.ctx.blobs.url}>"


__all__ = ["Context", "Run", "Service"]
