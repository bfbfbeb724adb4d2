"""Aliases: list, set, remove, history; activate, rollback and gated promotion (each with a dry run)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query

from modelreg.server.auth import Registry
from modelreg.server.wire import AliasSet, DryRun, ModelPath, ProjectPath, Promote, VersionPath, ref_text, reply
from modelreg.types import AliasInfo, AliasMove, PromotionPlan

router = APIRouter(tags=["aliases"])
MODEL = "/projects/{project}/models/{model}"
AliasPath = Path(description="An alias name, e.g. `production` or `staging`.", examples=["production"])
PLAN = "The move as a PromotionPlan (`applied` false for a dry run)"


def _version_text(version: int | str) -> str:
    return str(version) if isinstance(version, int) else version


@router.get(MODEL + "/aliases", response_model=list[AliasInfo], summary="The model's aliases")
def list_aliases(reg: Registry, project: str = ProjectPath, model: str = ModelPath) -> object:
    return reply(reg.list_aliases(ref_text(project, model)))


@router.put(MODEL + "/aliases/{alias}", response_model=PromotionPlan, response_description=PLAN,
            summary="Point an alias at a version (protected aliases need maintainer)")
def set_alias(body: AliasSet, reg: Registry, project: str = ProjectPath, model: str = ModelPath,
              alias: str = AliasPath) -> object:
    ref = ref_text(project, model, _version_text(body.version))
    return reply(reg.set_alias(ref, alias, dry_run=body.dry_run))


@router.delete(MODEL + "/aliases/{alias}", response_model=PromotionPlan, response_description=PLAN,
               summary="Remove an alias")
def delete_alias(reg: Registry, project: str = ProjectPath, model: str = ModelPath, alias: str = AliasPath,
                 dry_run: bool = Query(False, description="Show the move only")) -> object:
    return reply(reg.delete_alias(ref_text(project, model), alias, dry_run=dry_run))


@router.get(MODEL + "/aliases/{alias}/history", response_model=list[AliasMove],
            summary="Every move of the alias, newest first")
def alias_history(reg: Registry, project: str = ProjectPath, model: str = ModelPath,
                  alias: str = AliasPath) -> object:
    return reply(reg.alias_history(ref_text(project, model), alias))


@router.post(MODEL + "/aliases/{alias}/rollback", response_model=PromotionPlan, response_description=PLAN,
             summary="Move the alias back to its previous target (repeat to keep walking back)")
def rollback(body: DryRun, reg: Registry, project: str = ProjectPath, model: str = ModelPath,
             alias: str = AliasPath) -> object:
    return reply(reg.rollback(ref_text(project, model), alias, dry_run=body.dry_run))


@router.post(MODEL + "/versions/{version}/activate", response_model=PromotionPlan, response_description=PLAN,
             summary="Make the version production (activate)")
def activate(body: DryRun, reg: Registry, project: str = ProjectPath, model: str = ModelPath,
             version: str = VersionPath) -> object:
    return reply(reg.activate(ref_text(project, model, version), dry_run=body.dry_run))


@router.post(MODEL + "/promote", response_model=PromotionPlan, response_description=PLAN,
             summary="Promote src (alias or version) to dst through the model's promotion gate")
def promote(body: Promote, reg: Registry, project: str = ProjectPath, model: str = ModelPath) -> object:
    return reply(reg.promote(ref_text(project, model), body.src, body.dst, dry_run=body.dry_run, force=body.force,
                             archive_previous=body.archive_previous))
