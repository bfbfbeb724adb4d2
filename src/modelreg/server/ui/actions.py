"""The dashboard's actions: every mutation a model or version page offers, each behind a confirmation.

An alias move (activate, set or remove an alias, promote, roll back) is shown first as its plan — the service's
dry run: which alias moves from which version to which, what gets archived, the gate's terms with pass/fail —
on ``/plan``; its Confirm button posts the same request for real. Every POST carries the session's CSRF token
(``context.posted``) and acts through the service, whose permission checks refuse what the token may not do.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from modelreg.errors import InvalidInput
from modelreg.refs import parse_ref
from modelreg.server.ui.context import Ui, UiRoute, posted, ui_of
from modelreg.server.ui.pages import run
from modelreg.types import PromotionPlan, Version

router = APIRouter(include_in_schema=False, route_class=UiRoute)

# What each finished action says on the page it returns to (a fixed text: nothing from the URL is echoed).
DONE: dict[str, str] = {
    "activate": "activated", "set_alias": "alias set", "delete_alias": "alias removed", "rollback": "rolled back",
    "promote": "promoted", "pin": "pinned", "unpin": "unpinned", "archive": "archived", "unarchive": "unarchived",
    "mark_best": "marked best", "notes": "notes saved", "tags": "tags saved", "delete_version": "version deleted",
    "policies": "policies saved", "export": "export started",
}
PLANS = ("activate", "set_alias", "delete_alias", "rollback", "promote")


def model_url(project: str, model: str, done: str | None = None) -> str:
    return f"/m/{quote(project, safe='')}/{quote(model, safe='')}" + (f"?done={done}" if done else "")


def version_url(v: Version, done: str | None = None) -> str:
    return (f"/v/{quote(v.project, safe='')}/{quote(v.model, safe='')}/{v.number}"
            + (f"?done={done}" if done else ""))


def _required(fields: dict[str, str], *names: str) -> list[str]:
    missing = [n for n in names if not fields.get(n, "").strip()]
    if missing:
        raise InvalidInput(f"the form lacks {', '.join(missing)}", hint="reload the page and try again")
    return [fields[n].strip() for n in names]


def _plan(ui: Ui, kind: str, fields: dict[str, str], *, dry_run: bool) -> PromotionPlan:
    reg = ui.reg
    if kind == "activate":
        (ref,) = _required(fields, "ref")
        return reg.activate(ref, dry_run=dry_run)
    if kind == "set_alias":
        ref, alias = _required(fields, "ref", "alias")
        return reg.set_alias(ref, alias, dry_run=dry_run)
    if kind == "delete_alias":
        model, alias = _required(fields, "model", "alias")
        return reg.delete_alias(model, alias, dry_run=dry_run)
    if kind == "rollback":
        model, alias = _required(fields, "model", "alias")
        return reg.rollback(model, alias, dry_run=dry_run)
    if kind == "promote":
        model, src, dst = _required(fields, "model", "src", "dst")
        return reg.promote(model, src, dst, dry_run=dry_run, force=fields.get("force") == "on")
    raise InvalidInput(f"unknown action {kind!r}", hint=f"one of {', '.join(PLANS)}")


@router.get("/plan/{kind}")
async def plan_page(request: Request, kind: str, ui: Ui = Depends(ui_of)) -> Response:
    """What an alias move would do, and the button that does it."""
    fields = dict(request.query_params)
    plan = await run(_plan, ui, kind, fields, dry_run=True)
    project, _, model = plan.model.partition("/")
    return ui.render("plan.html", kind=kind, plan=plan, fields=fields, project=project, model=model,
                     back=model_url(project, model))


@router.post("/plan/{kind}")
async def apply_plan(kind: str, ui: Ui = Depends(posted)) -> Response:
    plan = await run(_plan, ui, kind, ui.form, dry_run=False)
    project, _, model = plan.model.partition("/")
    return ui.redirect(model_url(project, model, kind))


def _tags(text: str) -> dict[str, str | None]:
    """``key=value`` per line; a key with nothing after ``=`` removes that tag."""
    out: dict[str, str | None] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"the tag line {line.strip()[:80]!r} is not key=value", field="tags")
        out[key.strip()] = value.strip() or None
    return out


def _shapes(text: str) -> list[list[int]] | None:
    """``1,3,640,640`` (one input), or several separated by ``;``; empty: the version's signature."""
    shapes = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        try:
            shapes.append([int(d) for d in part.replace("x", ",").split(",") if d.strip()])
        except ValueError:
            raise InvalidInput(f"the input shape {part[:80]!r} is not a list of numbers",
                               hint="write it batch first, e.g. 1,3,640,640 (-1: any size)", field="input_shapes") \
                from None
    return shapes or None


def _start_export(ui: Ui, ref: str) -> None:
    """The Export… form: format, input shape, batch, precision, trusted, force; the export runs as a job."""
    f = ui.form
    batch = {"": None, "dynamic": True, "fixed": False}.get(f.get("dynamic_batch", ""))
    options: dict[str, Any] = {"input_shapes": _shapes(f.get("input_shapes", "")), "dynamic_batch": batch,
                               "half": f.get("half") == "on" or None, "int8": f.get("int8") or None}
    ui.reg.start_export(ref, f.get("format", "onnx"), trusted=f.get("trusted") == "on", force=f.get("force") == "on",
                        options={k: v for k, v in options.items() if v is not None})


def _version_action(ui: Ui, action: str) -> tuple[Version | None, str]:
    """Run a version action; the version afterwards (None once deleted) and the model's page."""
    (ref,) = _required(ui.form, "ref")
    reg = ui.reg
    if action == "delete_version":
        before = reg.get_version(ref)
        reg.delete_version(ref)
        return None, model_url(before.project, before.model, action)
    calls: dict[str, Any] = {"pin": reg.pin, "unpin": reg.unpin, "archive": reg.archive, "unarchive": reg.unarchive,
                             "mark_best": reg.mark_best}
    if action in calls:
        return calls[action](ref), ""
    if action == "notes":
        return reg.update_version(ref, notes=ui.form.get("notes", "")), ""
    if action == "export":
        _start_export(ui, ref)
        return reg.get_version(ref), ""
    if action == "tags":
        current = reg.get_version(ref).tags
        wanted = _tags(ui.form.get("tags", ""))
        removed: dict[str, str | None] = {k: None for k in current if k not in wanted}
        return reg.update_version(ref, tags={**removed, **wanted}), ""
    raise InvalidInput(f"unknown action {action!r}")


@router.post("/do/{action}")
async def version_action(action: str, ui: Ui = Depends(posted)) -> Response:
    version, url = await run(_version_action, ui, action)
    return ui.redirect(version_url(version, action) if version is not None else url)


@router.post("/policies/{project}/{model}")
async def save_policies(project: str, model: str, ui: Ui = Depends(posted)) -> Response:
    f = ui.form
    protected = [a.strip() for a in f.get("protected_aliases", "").split(",") if a.strip()]
    mode = f.get("best_mode", "max")
    if mode not in ("max", "min"):
        raise InvalidInput("best mode is max or min", field="best_mode")
    ref, gate = f"{project}/{model}", f.get("promotion_gate", "").strip()

    def save() -> None:
        # Only what the form changed: the gate and the protected aliases need an admin, so an editor who
        # changes the best metric alone must not send them back unchanged (and be refused).
        current = ui.reg.get_model(ref).policies
        ui.reg.update_model(ref, best_metric=f.get("best_metric", "").strip() or None,
                            best_mode="min" if mode == "min" else "max",
                            promotion_gate=gate if gate != (current.promotion_gate or "") else None,
                            protected_aliases=protected if protected != list(current.protected_aliases) else None)

    await run(save)
    return ui.redirect(model_url(project, model, "policies"))


@router.get("/go")
async def go(ref: str, ui: Ui = Depends(ui_of)) -> Response:
    """Open a reference typed in the search box (``fire-detector@production``, ``det:3``)."""
    parsed = parse_ref(ref)
    version = await run(ui.reg.get_version, ref) if parsed.names_version else None
    if version is not None:
        return ui.redirect(version_url(version))
    return ui.redirect(model_url(parsed.project or "default", parsed.model))
