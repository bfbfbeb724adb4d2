"""``modelreg experiment``: register an experiment manifest's run, one version per model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelreg.cli.common import JsonOpt, state
from modelreg.cli.output import emit_json, human_size, short_ref, transfer
from modelreg.cli.versions import print_version_line
from modelreg.errors import InvalidInput

app = typer.Typer(help="Experiments: an experiment manifest's run as one version per model.", no_args_is_help=True)


@app.command("register")
def register(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option(
        "--config", dir_okay=False, metavar="YAML",
        help="The experiment manifest: project, labels, models (detector, classifier …) with their name, "
             "weights and hyperparameters, shared settings such as business_rules.")],
    metrics: Annotated[Path | None, typer.Option(
        "--metrics", dir_okay=False, metavar="JSON",
        help="The run's metrics.json (artifacts/experiments/<timestamp>/metrics.json): a section per model "
             "({\"detector\": {...}}), numbers outside them go to every version. Its folder's name is the "
             "experiment id unless --experiment gives one.")] = None,
    checkpoint: Annotated[list[str] | None, typer.Option(
        "--checkpoint", metavar="MODEL=PATH",
        help="A model's trained weights, e.g. --checkpoint detector=runs/best.pt (repeat). A model without one "
             "takes its manifest weights path, looked for under the current directory, then the manifest's "
             "folder and the two above it.")] = None,
    experiment: Annotated[str | None, typer.Option(
        "--experiment", metavar="ID", help="The experiment id (default: the metrics file's folder name).")] = None,
    project: Annotated[str | None, typer.Option(
        "--project", help="The project; must be the manifest's when it names one.")] = None,
    alias: Annotated[str | None, typer.Option(
        "--alias", help="Also point this alias (e.g. staging) at each new version.")] = None,
    update_labels: Annotated[bool, typer.Option(
        "--update-labels", help="Make the manifest's labels the project's label set when they differ "
                                "(recorded as an event).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register one version per model of an experiment manifest, linked by an experiment id.

    Each model under the manifest's models (detector, classifier …) becomes a version of the model
    PROJECT/KEY in the manifest's project, with its checkpoint under weights/, the manifest and the
    metrics file as files, its hyperparameters and the shared settings as params, its section of the
    metrics as metrics, and the tag experiment=ID (find them with: modelreg search "tags.experiment = 'ID'").
    The labels must be the project's label set. Everything is checked first: all versions are
    registered, or none.

    \b
    Example: modelreg experiment register --config models/configs/widget_line_a.yaml \\
        --metrics artifacts/experiments/2024-06-01_14-30/metrics.json \\
        --checkpoint detector=runs/detector/best.pt --checkpoint classifier=runs/classifier/best.pt
    """
    st = state(ctx)
    checkpoints: dict[str, str] = {}
    for item in checkpoint or []:
        key, sep, path = item.partition("=")
        key = key.strip()
        if not sep or not key or not path:
            raise InvalidInput(f"--checkpoint expects MODEL=PATH, got {item!r}",
                               hint="e.g. --checkpoint detector=runs/detector/weights/best.pt")
        if key in checkpoints:
            raise InvalidInput(f"--checkpoint {key}= is given twice", hint="give one checkpoint per model",
                               model=key)
        checkpoints[key] = path
    total = sum(Path(p).expanduser().stat().st_size for p in checkpoints.values() if Path(p).expanduser().is_file())
    reg = st.registry()
    with transfer(st.err, total=total, label="storing", enabled=st.progress_enabled(as_json)) as progress:
        versions = reg.register_experiment(config, metrics=metrics, checkpoints=checkpoints, experiment=experiment,
                                           project=project, alias=alias, update_labels=update_labels,
                                           progress=progress)
    if as_json:
        emit_json(versions)
        return
    exp_id = versions[0].tags.get("experiment", "") if versions else ""
    st.out.print(f"experiment {exp_id}: {len(versions)} version(s) registered", soft_wrap=True)
    for version in versions:
        st.out.print(f"registered {short_ref(version.ref)} ({len(version.artifacts)} files, "
                     f"{human_size(version.size)})", soft_wrap=True)
        print_version_line(st, version)
