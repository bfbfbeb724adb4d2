"""The CLI's words for the next step after an error (``modelreg.steps``): the command line to run."""

from __future__ import annotations

from modelreg.steps import Words

CLI_WORDS = Words(
    actions={
        "create_project": "create it: modelreg projects create {project}",
        "list_projects": "list them: modelreg projects list",
        "list_models": "list them: modelreg models list --project {project}",
        "list_versions": "list them: modelreg versions {model}",
        "register_version": "register one: modelreg register {model} PATH",
        "set_best_metric": "set a best metric (modelreg models update {model} --best-metric map50) or mark one: "
                           "modelreg mark-best {model}:VERSION",
        "set_alias": "set it explicitly: modelreg alias set {model}:VERSION {alias}",
        "move_or_delete_alias": "move the alias first (modelreg alias set {model}:VERSION {alias}) or delete it "
                                "(modelreg alias rm {model} {alias})",
        "delete_aliases": "delete them first: modelreg alias rm {model} ALIAS",
        "unpin": "unpin it first: modelreg unpin {ref}",
        "upload_blobs": "register again: the CLI uploads what the server lacks",
        "export": "make one: modelreg export {ref} --format {format}",
        "create_token": "create one: modelreg tokens create NAME --role viewer",
        "set_promotion_gate": "replace it (modelreg models update {model} --promotion-gate '...'), or clear it "
                              "with --promotion-gate ''",
        "fsck": "list missing blobs: modelreg fsck",
        "install_toolchain": "{install}",
        "repair_blobs": "store the original files again: modelreg fsck --repair FOLDER with a folder that holds them",
        "pass_option": "pass {option}",
    },
    options={
        "force": "--force (it is recorded)", "trusted": "--trusted if you registered these weights yourself",
        "source": "--source PATH", "entry_point": "--entry-point package.module:factory",
        "input_shapes": "--shape 1,3,640,640", "batches": "--batch 1,16",
        "update_labels": "--update-labels to make them the project's label set",
    },
)
