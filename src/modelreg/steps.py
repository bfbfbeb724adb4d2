"""The next step after an error, as facts; each face writes it in its own words.

The core never names a CLI command or a REST route. It raises, for example,
``ProjectNotFound("project 'vision' does not exist", step=next_step("create_project", project="vision"))``:
the step travels in the error's ``details`` (and so in the REST envelope), and each face turns it into a hint
its user can act on — the SDK a Python call (``PYTHON_WORDS`` below, the error's own ``hint``), the CLI a command
line (``modelreg.cli.steps``), the REST API a request (``modelreg.server.steps``), the dashboard a button. A step
may carry ``lead``: plain words that come before the face's own (``"its newest is v3"``).

``StepAction`` and ``StepOption`` are the one declaration of the steps there are; a test checks that every face
has words for each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

StepAction = Literal[
    "create_project", "list_projects", "list_models", "list_versions", "register_version", "set_best_metric",
    "set_alias", "move_or_delete_alias", "delete_aliases", "unpin", "upload_blobs", "export", "create_token",
    "set_promotion_gate", "fsck", "repair_blobs", "install_toolchain", "pass_option",
]
STEP_ACTIONS: tuple[str, ...] = get_args(StepAction)
# Options of an operation a step may tell the user to pass (``pass_option``), by their SDK keyword.
StepOption = Literal["force", "trusted", "source", "entry_point", "input_shapes", "batches", "update_labels"]
STEP_OPTIONS: tuple[str, ...] = get_args(StepOption)


def next_step(action: StepAction, *, lead: str | None = None, **args: str | int) -> dict[str, Any]:
    """A step for an error's ``details``: ``raise X("…", step=next_step("unpin", ref="m:3"))``."""
    step: dict[str, Any] = {"action": action, **args}
    if lead:
        step["lead"] = lead
    return step


def pass_option(option: StepOption, *, lead: str | None = None) -> dict[str, Any]:
    """A step that says to pass an option of the operation (``force``, ``trusted``, ``source`` …)."""
    return next_step("pass_option", lead=lead, option=option)


class Words(Mapping[str, str]):
    """One face's words: a template per action (``str.format`` fields are the step's arguments) and per option."""

    def __init__(self, actions: Mapping[str, str], options: Mapping[str, str]) -> None:
        self.actions = dict(actions)
        self.options = dict(options)

    def __getitem__(self, action: str) -> str:
        return self.actions[action]

    def __iter__(self) -> Any:
        return iter(self.actions)

    def __len__(self) -> int:
        return len(self.actions)

    def render(self, step: Mapping[str, Any]) -> str | None:
        """The step in these words; None for a step this face has no words for (a newer server's)."""
        template = self.actions.get(str(step.get("action")))
        if template is None:
            return None
        args = {k: v for k, v in step.items() if k not in ("action", "lead")}
        if step.get("action") == "pass_option":
            option = self.options.get(str(args.get("option")))
            if option is None:
                return None
            args["option"] = option
        try:
            text = template.format_map(args)
        except (KeyError, IndexError, ValueError):
            return None
        lead = step.get("lead")
        if not lead:
            return text
        return f"{lead} {text}" if str(lead).endswith((" or", " and")) else f"{lead}; {text}"


def hint_for(details: Mapping[str, Any], words: Words, fallback: str | None = None) -> str | None:
    """The hint a face shows for an error's details: its words for the step, else ``fallback``."""
    step = details.get("step")
    if isinstance(step, Mapping):
        text = words.render(step)
        if text:
            return text
    return fallback


# The SDK's words: what a Python user of ``modelreg.connect()`` would type next (``reg`` is their registry).
PYTHON_WORDS = Words(
    actions={
        "create_project": "create it: reg.create_project({project!r})",
        "list_projects": "list them: reg.list_projects()",
        "list_models": "list them: reg.search_models(project={project!r})",
        "list_versions": "list them: reg.list_versions({model!r})",
        "register_version": "register one: reg.register_version({model!r}, files=...)",
        "set_best_metric": "set a best metric (reg.update_model({model!r}, best_metric='map50')) or mark one: "
                           "reg.mark_best('{model}:VERSION')",
        "set_alias": "set it explicitly: reg.set_alias('{model}:VERSION', {alias!r})",
        "move_or_delete_alias": "move the alias first (reg.set_alias('{model}:VERSION', {alias!r})) or delete it "
                                "(reg.delete_alias({model!r}, {alias!r}))",
        "delete_aliases": "delete them first: reg.delete_alias({model!r}, ALIAS)",
        "unpin": "unpin it first: reg.unpin({ref!r})",
        "upload_blobs": "upload them (reg.upload_blob(...)), then register again",
        "export": "make one: reg.export({ref!r}, format={format!r})",
        "create_token": "create one: reg.create_token(NAME, 'viewer')",
        "set_promotion_gate": "replace it (reg.update_model({model!r}, promotion_gate='...')), or clear it with "
                              "promotion_gate=''",
        "fsck": "list missing blobs: reg.fsck()",
        "install_toolchain": "{install}",
        "repair_blobs": "store the original files again: reg.fsck(repair_from=FOLDER) with a folder that holds them",
        "pass_option": "pass {option}",
    },
    options={
        "force": "force=True (it is recorded)", "trusted": "trusted=True if you registered these weights yourself",
        "source": "source='weights/best.pt'", "entry_point": "entry_point='package.module:factory'",
        "input_shapes": "input_shapes=[[1, 3, 640, 640]]", "batches": "batches=[1, 16]",
        "update_labels": "update_labels=True to make them the project's label set",
    },
)
