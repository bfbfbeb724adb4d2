"""Keeping storage honest: ``gc`` removes blobs nothing references, ``fsck`` re-hashes, reports and repairs.

A repair stores the original content again: ``fsck(repair_from=folder)`` hashes the files of a folder
(only those of a size some broken blob has), and stores each one whose content is a missing or corrupt
blob, verified, replacing a damaged copy atomically. Finding the content is shared with the HTTP client
(``modelreg.local.repair``), whose folder is on the client's machine and whose repair goes through the
blob upload.
"""

from __future__ import annotations

import logging
import os

from modelreg.errors import BlobNotFound, IntegrityError, InvalidInput
from modelreg.local.repair import blobs_to_repair, find_by_content, repair_folder, with_repairs
from modelreg.registry import ORPHAN_GRACE_S, TEMP_GRACE_S
from modelreg.service.base import ServiceBase
from modelreg.service.blobs import collect_blobs
from modelreg.service.inferences import apply_retention
from modelreg.service.permissions import operation
from modelreg.types import FsckProblem, FsckRepair, FsckReport, GcReport

log = logging.getLogger("modelreg.service")

# A stored blob with no row yet may belong to a registration in flight; gc leaves it alone this long.
MAX_GRACE_S = 365 * 24 * 3600.0


class MaintenanceMixin(ServiceBase):
    @operation("maintainer", "gc", registry_wide=True)
    def gc(self, *, dry_run: bool = True, grace_s: float = ORPHAN_GRACE_S,
           temp_grace_s: float = TEMP_GRACE_S) -> GcReport:
        """Remove blobs that no version references (``dry_run``: only report what and how many bytes), and
        inference records past their project's retention (``inferences``: how many).

        Blobs stored in the last ``grace_s`` seconds that no row knows yet are left for a registration
        that may still be committing them; temporary files of interrupted writes older than
        ``temp_grace_s`` are removed too (a live writer touches its file at every chunk).
        """
        for name, value in (("grace_s", grace_s), ("temp_grace_s", temp_grace_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_GRACE_S:
                raise InvalidInput(f"{name} {value!r} must be a number of seconds from 0 to {MAX_GRACE_S:g}",
                                   field=name)
        rows = self.ctx.read(lambda tx: tx.blob_rows())
        unreferenced = self.ctx.read(lambda tx: tx.unreferenced_blobs())
        candidates = dict(unreferenced)
        stale_rows = {d: size for d, (size, state) in rows.items() if state == "deleting"}
        candidates.update(stale_rows)
        for digest, size in self.ctx.blobs.iter_digests():
            if digest not in rows and self._older_than(digest, grace_s):
                candidates[digest] = size
        temp = self.ctx.blobs.clean_temp(older_than_s=temp_grace_s, dry_run=dry_run)
        records = apply_retention(self, dry_run=dry_run)
        if dry_run:
            return GcReport(dry_run=True, blobs=len(candidates), bytes=sum(candidates.values()),
                            digests=sorted(candidates), temp_files=temp, inferences=records)
        for digest in stale_rows:  # a gc that died between its steps: finish its work
            self.ctx.blobs.delete(digest)
            self.ctx.write(lambda tx, d=digest: tx.delete_blob_row(digest=d))  # type: ignore[misc]
        count, freed = collect_blobs(self.ctx, [d for d in candidates if d not in stale_rows])
        deleted = count + len(stale_rows)
        if deleted:
            self.ctx.write(lambda tx: tx.append_event(actor=self.ctx.actor, action="gc.deleted",
                                                      now=self.ctx.now(),
                                                      after={"blobs": deleted, "bytes": freed}))
        return GcReport(dry_run=False, blobs=deleted, bytes=freed + sum(stale_rows.values()),
                        digests=sorted(candidates), temp_files=temp, inferences=records)

    def _older_than(self, digest: str, grace_s: float) -> bool:
        if grace_s <= 0:
            return True
        written = self.ctx.blobs.modified_at(digest)
        if written is None:  # gone, or a store that cannot tell (memory): nothing in flight to protect
            return self.ctx.blobs.local_path(digest) is None and self.ctx.blobs.exists(digest)
        return (self.ctx.now() - written).total_seconds() > grace_s

    @operation("maintainer", "fsck", registry_wide=True)
    def fsck(self, *, verify: bool = True, repair_from: str | os.PathLike[str] | None = None) -> FsckReport:
        """Check every referenced blob exists, has its size and (``verify``) its SHA-256; report problems.

        ``repair_from``: a folder holding original files (searched recursively, matched by content
        whatever their names); every missing or corrupt blob found there is stored again, verified,
        replacing the damaged copy atomically. The report lists those under ``repaired`` and what is
        still wrong under ``problems``.
        """
        folder = repair_folder(repair_from) if repair_from is not None else None
        report = self._check(verify=verify)
        if folder is None:
            return report
        wanted = blobs_to_repair(report)
        repaired: list[FsckRepair] = []
        notes: dict[str, str] = {}
        for digest, path in find_by_content(folder, {d: size for d, (_, size) in wanted.items()}).items():
            kind, size = wanted[digest]
            try:
                with open(path, "rb") as f:
                    self.ctx.blobs.put(f, expected_digest=digest, repair=True)
            except IntegrityError:  # the file changed since it was hashed
                notes[digest] = f"{path} changed while it was being stored"
                continue
            log.info("fsck repaired %s (%s) from %s", digest, kind, path)
            repaired.append(FsckRepair(kind=kind, digest=digest, size=size, source=str(path)))
        if repaired:
            after = {"repaired": [r.model_dump(mode="json") for r in repaired]}
            self.ctx.write(lambda tx: self._event(tx, "blobs.repaired", after=after))
        return with_repairs(report, folder, repaired, notes)

    def _check(self, *, verify: bool) -> FsckReport:
        referenced = self.ctx.read(lambda tx: tx.referenced_digests())
        rows = self.ctx.read(lambda tx: tx.blob_rows())
        stored = dict(self.ctx.blobs.iter_digests())
        problems: list[FsckProblem] = []
        checked = total = 0
        for digest, size in sorted(referenced.items()):
            checked += 1
            if digest not in rows or rows[digest][1] != "live":
                problems.append(FsckProblem(kind="dangling", digest=digest, size=size,
                                            detail="an artifact references a blob the registry has no live "
                                                   "record of"))
            if digest not in stored:
                problems.append(FsckProblem(kind="missing", digest=digest, size=size,
                                            detail="the blob is not in the store"))
                continue
            if stored[digest] != size:
                problems.append(FsckProblem(kind="corrupt", digest=digest, size=size,
                                            detail=f"stored size {stored[digest]} != recorded size {size}"))
                continue
            total += size
            if verify:
                try:
                    ok = self.ctx.blobs.verify(digest)
                except BlobNotFound:
                    problems.append(FsckProblem(kind="missing", digest=digest, size=size,
                                                detail="vanished while checking"))
                    continue
                if not ok:
                    problems.append(FsckProblem(kind="corrupt", digest=digest, size=size,
                                                detail="the content does not hash to its digest"))
        unreferenced = len([d for d in stored if d not in referenced])
        return FsckReport(checked=checked, bytes=total, problems=problems, unreferenced=unreferenced)
