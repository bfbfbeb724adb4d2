"""The dashboard's words for the next step after an error (``modelreg.steps``): where to click."""

from __future__ import annotations

from modelreg.steps import Words

UI_WORDS = Words(
    actions={
        "create_project": "create the project {project} first (with modelreg projects create, or the REST API)",
        "list_projects": "see the projects on the Projects page",
        "list_models": "see the models of {project} on the Models page",
        "list_versions": "see its versions on the page of {model}",
        "register_version": "register a version of {model} first (the SDK, the CLI or a training integration)",
        "set_best_metric": "set the model's best metric under Policies on the page of {model}, or mark a version best",
        "set_alias": "set {alias} explicitly with the Set alias button on a version of {model}",
        "move_or_delete_alias": "move {alias} to another version first (Activate or Set alias there), or remove it",
        "delete_aliases": "remove the aliases of {model} first, on its page",
        "unpin": "unpin it first (the Unpin button of {ref})",
        "upload_blobs": "upload the files again",
        "export": "make one with the Export button of {ref}",
        "create_token": "ask an admin for a token",
        "set_promotion_gate": "fix or clear the gate under Policies on the page of {model}",
        "fsck": "an admin can list missing files with modelreg fsck",
        "install_toolchain": "the server needs modelreg[{extra}]: an admin installs it where the server runs "
                             "({install})",
        "repair_blobs": "store the original files again (an admin: modelreg fsck --repair FOLDER)",
        "pass_option": "tick {option}",
    },
    options={
        "force": "Force (it is recorded)", "trusted": "Trusted, if you registered these weights yourself",
        "source": "a weights file", "entry_point": "an entry point", "input_shapes": "an input shape",
        "batches": "batch sizes", "update_labels": "register with update_labels (the SDK or the CLI)",
    },
)
