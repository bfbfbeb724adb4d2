"""Importing the ``versions/vN`` and ``production/staging/archive`` folder layouts; see ``modelreg.importers``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, cast

from modelreg.registry import Layout
from modelreg.service.base import ServiceBase
from modelreg.service.permissions import operation
from modelreg.types import ImportReport

if TYPE_CHECKING:
    from modelreg.registry import Registry


class ImportMixin(ServiceBase):
    @operation("editor", "importing a folder")
    def import_folder(self, path: str | os.PathLike[str], model: str, *, layout: Layout = "auto",
                      strict: bool = False, dry_run: bool = False) -> ImportReport:
        """Import ``models/versions/vN/`` or ``models/{production,staging,archive/*}/``.

        A corrupt metadata.json is reported with its path and the others go on (``strict`` stops at
        the first); each version lands whole or not at all.
        """
        from modelreg.importers import import_folder

        service = cast("Registry", self)  # the mixin is only ever used as part of Service, a Registry
        report: ImportReport = import_folder(service, path, model, layout=layout, strict=strict, dry_run=dry_run)
        return report
