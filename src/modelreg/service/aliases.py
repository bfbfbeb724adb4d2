"""Aliases: set, remove, history, activate, rollback and gated promotion. Every move is an event."""

from __future__ import annotations

import dataclasses

from modelreg.errors import AliasNotFound, GateFailed, InvalidInput, InvalidState, NothingToRollBack
from modelreg.metadata.base import MetadataTx
from modelreg.refs import Ref, validate_alias
from modelreg.service.base import ServiceBase, as_ref
from modelreg.service.evaluations import evaluation_values
from modelreg.service.gate import evaluate_gate
from modelreg.service.permissions import PROTECTED, operation
from modelreg.steps import next_step, pass_option
from modelreg.types import AliasInfo, AliasMove, EventAction, Model, PromotionPlan, Version


class AliasesMixin(ServiceBase):
    def _check_move(self, model: Model, alias: str) -> None:
        if alias in model.policies.protected_aliases:
            self.ctx.require("maintainer", f"moving the protected alias {alias!r}")

    def _move(self, tx: MetadataTx, model: Model, alias: str, target: Version, *, kind: str = "set",
              action: EventAction = "alias.set", extra: dict[str, object] | None = None) -> int | None:
        """Point ``alias`` at ``target``, record the move and the event; return the previous number."""
        if target.status != "ready":
            raise InvalidState(f"{target.ref} is {target.status}; only a ready version can be {alias}",
                               hint="wait for its run to finish, or pick a ready version",
                               version=target.number, status=target.status)
        current = tx.get_alias(model_id=model.id, alias=alias)
        previous = current.number if current else None
        if previous == target.number:
            return previous
        if target.archived:
            tx.update_version(version_id=target.id, changes={"archived": False}, now=self.ctx.now())
        tx.set_alias(model_id=model.id, alias=alias, version_id=target.id, now=self.ctx.now())
        if kind == "set":
            tx.record_alias_move(model_id=model.id, alias=alias, from_number=previous, to_number=target.number,
                                 kind="set", actor=self.ctx.actor, now=self.ctx.now())
        self._event(tx, action, model=model, version=target.number, alias=alias,
                    before={"version": previous}, after={"version": target.number, **(extra or {})})
        return previous

    @operation("editor", "moving an alias", extra=PROTECTED)
    def set_alias(self, ref: str, alias: str, *, dry_run: bool = False) -> PromotionPlan:
        """Point ``alias`` of the model at the version ``ref`` names. ``dry_run`` shows the move only."""
        alias = validate_alias(alias)

        def run(tx: MetadataTx) -> PromotionPlan:
            model, version = self._version(tx, as_ref(ref), lock_model=True)
            self._check_move(model, alias)
            current = tx.get_alias(model_id=model.id, alias=alias)
            plan = PromotionPlan(model=f"{model.project}/{model.name}", alias=alias,
                                 from_number=current.number if current else None, to_number=version.number,
                                 archive_number=None, gate=None, gate_passed=True, applied=not dry_run)
            if not dry_run:
                self._move(tx, model, alias, version)
            return plan

        return self.ctx.read(run) if dry_run else self.ctx.write(run)

    @operation("editor", "activating a version", extra=PROTECTED)
    def activate(self, ref: str, *, dry_run: bool = False) -> PromotionPlan:
        """Make the version production: move the ``production`` alias to it (``modelreg activate``)."""
        return self.set_alias(ref, "production", dry_run=dry_run)

    @operation("editor", "removing an alias", extra=PROTECTED)
    def delete_alias(self, model: str, alias: str, *, dry_run: bool = False) -> PromotionPlan:
        alias = validate_alias(alias)

        def run(tx: MetadataTx) -> PromotionPlan:
            mdl = self._model(tx, model, lock=True)
            self._check_move(mdl, alias)
            current = tx.get_alias(model_id=mdl.id, alias=alias)
            if current is None:
                raise AliasNotFound(f"{mdl.project}/{mdl.name} has no alias {alias!r}", model=mdl.name,
                                    alias=alias)
            plan = PromotionPlan(model=f"{mdl.project}/{mdl.name}", alias=alias, from_number=current.number,
                                 to_number=0, archive_number=None, gate=None, gate_passed=True, applied=not dry_run)
            if not dry_run:
                tx.delete_alias(model_id=mdl.id, alias=alias)
                tx.record_alias_move(model_id=mdl.id, alias=alias, from_number=current.number, to_number=None,
                                     kind="delete", actor=self.ctx.actor, now=self.ctx.now())
                self._event(tx, "alias.deleted", model=mdl, alias=alias, version=current.number,
                            before={"version": current.number}, after=None)
            return plan

        return self.ctx.read(run) if dry_run else self.ctx.write(run)

    @operation("viewer", "listing aliases")
    def list_aliases(self, model: str) -> list[AliasInfo]:
        def run(tx: MetadataTx) -> list[AliasInfo]:
            mdl = self._model(tx, model)
            return [a.model_copy(update={"protected": a.alias in mdl.policies.protected_aliases})
                    for a in tx.list_aliases(model_id=mdl.id)]

        return self.ctx.read(run)

    @operation("viewer", "reading an alias's history")
    def alias_history(self, model: str, alias: str = "production") -> list[AliasMove]:
        """Every move of the alias, newest first."""
        alias = validate_alias(alias)
        return self.ctx.read(lambda tx: tx.alias_moves(model_id=self._model(tx, model).id, alias=alias))

    @operation("editor", "rolling an alias back", extra=PROTECTED)
    def rollback(self, model: str, alias: str = "production", *, dry_run: bool = False) -> PromotionPlan:
        """Move ``alias`` back to the version it pointed to before its latest move.

        Repeated rollbacks keep walking back: after v1 -> v2 -> v3 -> v4, three rollbacks reach v1.
        """
        alias = validate_alias(alias)

        def run(tx: MetadataTx) -> PromotionPlan:
            mdl = self._model(tx, model, lock=True)
            self._check_move(mdl, alias)
            current = tx.get_alias(model_id=mdl.id, alias=alias)
            move = next((m for m in tx.alias_moves(model_id=mdl.id, alias=alias)
                         if m.kind == "set" and not m.reverted), None)
            if current is None or move is None or move.to_number != current.number or move.from_number is None:
                where = f"v{current.number}" if current else "nothing"
                raise NothingToRollBack(
                    f"{mdl.project}/{mdl.name}@{alias} points to {where} and has no earlier target to go back to",
                    step=next_step("set_alias", model=mdl.name, alias=alias), model=mdl.name, alias=alias)
            target = tx.get_version(model_id=mdl.id, number=move.from_number)
            if target is None:
                raise NothingToRollBack(
                    f"{alias} was v{move.from_number} before, but v{move.from_number} has been deleted",
                    step=next_step("set_alias", model=mdl.name, alias=alias), model=mdl.name, alias=alias,
                    version=move.from_number)
            plan = PromotionPlan(model=f"{mdl.project}/{mdl.name}", alias=alias, from_number=current.number,
                                 to_number=target.number, archive_number=None, gate=None, gate_passed=True,
                                 applied=not dry_run)
            if not dry_run:
                self._move(tx, mdl, alias, target, kind="rollback", action="alias.rollback")
                tx.mark_move_reverted(move_id=move.id)
                tx.record_alias_move(model_id=mdl.id, alias=alias, from_number=current.number,
                                     to_number=target.number, kind="rollback", actor=self.ctx.actor,
                                     now=self.ctx.now())
            return plan

        return self.ctx.read(run) if dry_run else self.ctx.write(run)

    @operation("editor", "promoting a version", extra=PROTECTED)
    def promote(self, model: str, src: str, dst: str = "production", *, dry_run: bool = False,
                force: bool = False, archive_previous: bool = True) -> PromotionPlan:
        """Point ``dst`` at what ``src`` names (an alias such as staging, or a version such as v5).

        The model's promotion gate is checked; a failing gate refuses the move with the failing
        terms listed unless ``force`` (recorded in the event). The version ``dst`` left is archived
        when ``archive_previous``. ``dry_run`` returns the plan without changing anything.
        """
        dst = validate_alias(dst)

        def run(tx: MetadataTx) -> PromotionPlan:
            mdl = self._model(tx, model, lock=True)
            self._check_move(mdl, dst)
            _, candidate = self._version(tx, _source_ref(mdl, src))
            current_info = tx.get_alias(model_id=mdl.id, alias=dst)
            current = tx.get_version(model_id=mdl.id, number=current_info.number) if current_info else None
            gate = mdl.policies.promotion_gate
            evaluations = {v.id: evaluation_values(tx, v) for v in (candidate, current) if v is not None and gate}
            passed, terms = evaluate_gate(gate, candidate, current, evaluations) if gate else (True, [])
            archive = (current.number if archive_previous and current and current.number != candidate.number
                       and not [a for a in current.aliases if a != dst] else None)
            plan = PromotionPlan(model=f"{mdl.project}/{mdl.name}", alias=dst,
                                 from_number=current.number if current else None, to_number=candidate.number,
                                 archive_number=archive, gate=gate, gate_passed=passed, gate_terms=terms,
                                 forced=force and not passed, applied=False)
            if dry_run:
                return plan
            if not passed and not force:
                failing = "; ".join(f"{t.term} ({t.detail})" for t in terms if not t.passed)
                raise GateFailed(f"promotion of {candidate.ref} to {dst} fails the gate: {failing}",
                                 step=pass_option("force", lead="improve the candidate, or"),
                                 model=mdl.name, version=candidate.number,
                                 failing=[t.term for t in terms if not t.passed])
            self._move(tx, mdl, dst, candidate, action="alias.promoted",
                       extra={"source": src, "gate": gate, "gate_passed": passed, "forced": plan.forced})
            if archive is not None and current is not None and not current.archived:
                tx.update_version(version_id=current.id, changes={"archived": True}, now=self.ctx.now())
                self._event(tx, "version.archived", model=mdl, version=archive, before={"archived": False},
                            after={"archived": True, "reason": f"promotion of v{candidate.number} to {dst}"})
            return plan.model_copy(update={"applied": True})

        return self.ctx.read(run) if dry_run else self.ctx.write(run)


def _source_ref(model: Model, src: str) -> Ref:
    """``staging`` / ``@staging`` is an alias; ``5``, ``v5``, ``latest``, ``best`` or a full ref a version."""
    text = src.strip()
    if ":" in text or "@" in text[1:] or "/" in text:
        r = as_ref(text)
        if r.project is None:  # "det:3" while promoting in project alpha: alpha's det
            r = dataclasses.replace(r, project=model.project)
        if r.model != model.name or r.project != model.project:
            raise InvalidInput(f"{src!r} is not a version of {model.project}/{model.name}; promote moves an "
                               "alias between versions of one model", hint="name a version or an alias of this "
                               "model, e.g. staging or v5", field="src")
        return r
    base = f"{model.project}/{model.name}"
    if text.startswith("@"):
        return as_ref(f"{base}{text}")
    if text.lstrip("vV").isdigit() or text in ("latest", "best"):
        return as_ref(f"{base}:{text}")
    return as_ref(f"{base}@{text}")
