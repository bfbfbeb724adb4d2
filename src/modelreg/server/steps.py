"""The REST API's words for the next step after an error (``modelreg.steps``): the request to send.

The envelope keeps the step itself in ``details.step`` for programs; ``details.hint`` is written here.
"""

from __future__ import annotations

from modelreg.steps import Words

REST_WORDS = Words(
    actions={
        "create_project": "create it: POST /api/v1/projects {{\"name\": \"{project}\"}}",
        "list_projects": "list them: GET /api/v1/projects",
        "list_models": "list them: GET /api/v1/projects/{project}/models",
        "list_versions": "list them: GET /api/v1/projects/-/models/{model}/versions",
        "register_version": "register one: POST /api/v1/versions {{\"model\": \"{model}\", \"artifacts\": [...]}}",
        "set_best_metric": "set a best metric (PATCH /api/v1/projects/-/models/{model} {{\"best_metric\": "
                           "\"map50\"}}) or mark one: POST …/models/{model}/versions/VERSION/mark-best",
        "set_alias": "set it explicitly: PUT /api/v1/projects/-/models/{model}/aliases/{alias} "
                     "{{\"version\": VERSION}}",
        "move_or_delete_alias": "move the alias first (PUT /api/v1/projects/-/models/{model}/aliases/{alias}) or "
                                "delete it (DELETE the same path)",
        "delete_aliases": "delete them first: DELETE /api/v1/projects/-/models/{model}/aliases/ALIAS",
        "unpin": "unpin it first: POST …/versions/VERSION/unpin",
        "upload_blobs": "upload them (PUT /api/v1/blobs/<digest>), then register again",
        "export": "make one: POST …/versions/VERSION/exports {{\"format\": \"{format}\"}}",
        "create_token": "ask an admin for one (POST /api/v1/tokens)",
        "set_promotion_gate": "replace it (PATCH /api/v1/projects/-/models/{model} {{\"promotion_gate\": "
                              "\"...\"}}), or clear it with an empty promotion_gate",
        "fsck": "list missing blobs: POST /api/v1/maintenance/fsck",
        "install_toolchain": "install modelreg[{extra}] where the server runs: {install}",
        "repair_blobs": "upload the original files again (PUT /api/v1/blobs/<digest>)",
        "pass_option": "send {option}",
    },
    options={
        "force": "\"force\": true (it is recorded)", "trusted": "\"trusted\": true if you registered these weights "
                                                                "yourself",
        "source": "\"source\": \"weights/best.pt\"", "entry_point": "\"entry_point\": \"package.module:factory\"",
        "input_shapes": "\"input_shapes\": [[1, 3, 640, 640]]", "batches": "\"batches\": [1, 16]",
        "update_labels": "\"update_labels\": true to make them the project's label set",
    },
)
