"""How fast the ``modelreg`` command answers a read on the embedded default registry, and ``import modelreg``.

    python bench/bench_cli.py [--runs 10] [--baseline HEAD] [--src DIR] [--no-doc]

A fresh temporary ``MODELREG_HOME`` gets one model (``m``) with three versions (registered with the same
code that is measured). Each command is then timed as a whole process — start-up, imports, the query, the
output and the interpreter's exit — by wall clock around ``subprocess.run``: the median of ``--runs`` runs
after one warm-up, the commands interleaved so that the machine's load drifts over all of them alike.
``--baseline REV`` measures the source tree of git revision ``REV`` as well (``git archive`` into a scratch
folder, run with ``PYTHONPATH``), each tree on a registry it created itself.

The processes run with bytecode caching on (``PYTHONPYCACHEPREFIX`` set to a scratch folder,
``PYTHONDONTWRITEBYTECODE`` removed), so after the warm-up every module loads from its ``.pyc`` as in an
installed package. Then ``python -X importtime`` of ``modelreg versions m`` (median of 3) says where the
remaining time goes, by package.

Prints the tables and writes them into docs/benchmarks.md between ``<!-- bench_cli:start -->`` and
``<!-- bench_cli:end -->``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import Stats, machine_facts, markdown_table, ms, replace_section, scratch_dir, text_table

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
IMPORT_TARGET_S = 0.15
READ_TARGET_S = 0.30
# (what is shown, the arguments of `modelreg`, or of `python` when they start with -c, target)
COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("python -c pass", ["-c", "pass"], None),
    ("python -c 'import modelreg'", ["-c", "import modelreg"], IMPORT_TARGET_S),
    ("modelreg versions m", ["versions", "m"], READ_TARGET_S),
    ("modelreg info m:1", ["info", "m:1"], READ_TARGET_S),
    ("modelreg resolve m:1", ["resolve", "m:1"], READ_TARGET_S),
    ("modelreg resolve m@production", ["resolve", "m@production"], READ_TARGET_S),
    ("modelreg --help", ["--help"], None),
]
# Packages reported on their own in the import breakdown; modelreg is split by subpackage.
PYDANTIC = ("pydantic", "pydantic_core", "annotated_types", "typing_inspection", "typing_extensions")
CLI_LIBS = ("typer", "click", "rich", "shellingham")


@dataclass
class Tree:
    """One source tree measured: its label, its ``src`` folder and its own registry."""

    label: str
    src: Path
    home: Path


def modelreg_argv() -> list[str]:
    """The ``modelreg`` console script next to this Python (what users run), else ``python -m modelreg``."""
    script = Path(sys.executable).with_name("modelreg")
    return [str(script)] if script.is_file() and os.access(script, os.X_OK) else [sys.executable, "-m", "modelreg"]


def environment(tree: Tree, pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "MODELREG_URL", "MODELREG_TOKEN", "MODELREG_DEBUG")}
    env.update(PYTHONPATH=str(tree.src), PYTHONPYCACHEPREFIX=str(pycache), MODELREG_HOME=str(tree.home),
               COLUMNS="120")
    return env


def argv_of(args: list[str]) -> list[str]:
    return [sys.executable, *args] if args[0] == "-c" else [*modelreg_argv(), *args]


def run_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} exited {done.returncode}:\n{done.stderr.decode(errors='replace')}")
    return elapsed


def make_registry(tree: Tree, work: Path, pycache: Path) -> None:
    """Model ``m`` with three versions, registered by the tree's own CLI (v1 becomes production)."""
    files = work / "weights"
    files.mkdir(exist_ok=True)
    (files / "best.pt").write_bytes(os.urandom(64 * 1024))
    (files / "args.yaml").write_text("epochs: 100\nimgsz: 640\n", encoding="utf-8")
    env = environment(tree, pycache)
    for i, map50 in enumerate((0.61, 0.67, 0.72), start=1):
        run_once([*modelreg_argv(), "register", "m", str(files), "-m", f"map50={map50}", "-m", f"epoch={i * 100}"],
                 env)


# Runs the console script's entry point and prints the modelreg modules it loaded, in load order.
PROBE = """
import io, json, sys, contextlib
from modelreg.cli.main import app
sys.argv = ["modelreg", *sys.argv[1:]]
try:
    with contextlib.redirect_stdout(io.StringIO()):
        app(prog_name="modelreg")  # what run() runs, without its exit at once
except SystemExit:
    pass
print(json.dumps([m for m in sys.modules if m == "modelreg" or m.startswith("modelreg.")]), file=sys.stderr)
"""
IMPORTS_ONLY = "imports of `modelreg versions m` alone"
LIBRARIES_ONLY = "imports of SQLAlchemy, pydantic, typer, rich and PyYAML alone"
# What a read needs of them: pydantic's and SQLAlchemy's packages load most of their parts on first use.
LIBRARIES = ("sqlalchemy", "sqlalchemy.dialects.sqlite", "pydantic", "pydantic.main", "pydantic.types",
             "pydantic.functional_validators", "typer", "typer.main", "rich.console", "rich.table", "rich.progress",
             "yaml")


def quiet_imports(modules: list[str]) -> list[str]:
    """``python -c`` importing ``modules`` the way the console script runs (collector paused, frozen at exit)."""
    return ["-c", f"import gc; gc.disable(); import {', '.join(modules)}; gc.freeze()"]


def loaded_modules(tree: Tree, pycache: Path, args: list[str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env=environment(tree, pycache), capture_output=True,
                          text=True, check=True)
    modules: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return modules


def measure(trees: list[Tree], pycache: Path, runs: int) -> dict[tuple[str, str], list[float]]:
    """Every command on every tree, plus, on the last tree, two processes that only import: the modules
    ``modelreg versions m`` loads (so the rest of its time is its own work) and the libraries it stands on."""
    samples: dict[tuple[str, str], list[float]] = {}
    plan = [(tree, label, argv_of(args)) for label, args, _ in COMMANDS for tree in trees]
    now = trees[-1]
    plan.append((now, IMPORTS_ONLY, [sys.executable, *quiet_imports(loaded_modules(now, pycache, ["versions", "m"]))]))
    plan.append((now, LIBRARIES_ONLY, [sys.executable, *quiet_imports(list(LIBRARIES))]))
    for tree, label, argv in plan:  # warm-up: writes the bytecode, fills the page cache
        run_once(argv, environment(tree, pycache))
        samples[(tree.label, label)] = []
    for _ in range(runs):
        for tree, label, argv in plan:
            samples[(tree.label, label)].append(run_once(argv, environment(tree, pycache)))
    return samples


def import_breakdown(tree: Tree, pycache: Path, repeats: int = 3) -> Counter[str]:
    """Self time (µs) of every module ``modelreg versions m`` imports (median over ``repeats``)."""
    runs: list[Counter[str]] = []
    for _ in range(repeats):
        script = modelreg_argv()
        target = ["-m", "modelreg"] if script[0] == sys.executable else script  # run the script by this Python
        done = subprocess.run([sys.executable, "-X", "importtime", *target, "versions", "m"],
                              env=environment(tree, pycache), capture_output=True, text=True, check=True)
        per: Counter[str] = Counter()
        for line in done.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
            if m:
                per[m.group(2)] += int(m.group(1))
        runs.append(per)
    keys = set().union(*runs)
    return Counter({k: int(statistics.median(r.get(k, 0) for r in runs)) for k in keys})


def by_package(per_module: Counter[str]) -> Counter[str]:
    out: Counter[str] = Counter()
    for module, us in per_module.items():
        out[package_of(module)] += us
    return out


def package_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "modelreg":
        return ".".join(parts[:2])
    return parts[0]


def groups_of(per: Counter[str]) -> list[tuple[str, float]]:
    """The import time in groups a reader can act on: SQLAlchemy, pydantic, the CLI libraries, modelreg..."""
    sums: Counter[str] = Counter()
    for name, us in per.items():
        if name == "sqlalchemy":
            group = "SQLAlchemy"
        elif name in PYDANTIC:
            group = "pydantic (+ pydantic_core, annotated_types, typing_*)"
        elif name in CLI_LIBS:
            group = "typer + rich"
        elif name.startswith("modelreg"):
            group = "modelreg's own modules (model classes, tables, commands)"
        elif name == "yaml":
            group = "PyYAML"
        else:
            group = "the standard library and the rest"
        sums[group] += us
    return [(group, us / 1e6) for group, us in sums.most_common()]


def render(args: argparse.Namespace, trees: list[Tree], samples: dict[tuple[str, str], list[float]],
           per_module: Counter[str], facts: dict[str, str], started: datetime) -> tuple[str, str]:
    now = trees[-1].label
    header = ["command", *(f"{t.label} (median)" for t in trees), f"{now} p90", "target"]
    rows = []
    for label, _, target in COMMANDS:
        cells = [f"`{label}`"]
        for tree in trees:
            cells.append(ms(statistics.median(samples[(tree.label, label)])))
        cells.append(ms(Stats(tuple(samples[(now, label)])).p90))
        if target is None:
            cells.append("")
        else:
            met = statistics.median(samples[(now, label)]) <= target
            cells.append(f"≤ {target * 1e3:.0f} ms {'✓' if met else '✗'}")
        rows.append(cells)
    start_s = statistics.median(samples[(now, "python -c pass")])
    versions_s = statistics.median(samples[(now, "modelreg versions m")])
    imports_s = statistics.median(samples[(now, IMPORTS_ONLY)])
    libraries_s = statistics.median(samples[(now, LIBRARIES_ONLY)])
    parts = [
        ["the interpreter starting and exiting (`python -c pass`)", ms(start_s)],
        ["importing the libraries (" + LIBRARIES_ONLY + ", less the interpreter)", ms(libraries_s - start_s)],
        ["importing modelreg's modules, and what else they load (" + IMPORTS_ONLY + ", less the above)",
         ms(imports_s - libraries_s)],
        ["the command's own work: parsing, opening the database, the query, validating the rows, printing, exit",
         ms(versions_s - imports_s)],
    ]
    per = by_package(per_module)
    total_import_s = sum(per.values()) / 1e6
    groups = groups_of(per)
    top = [(name, us / 1e6) for name, us in per.most_common(15)]
    own = [(name, us / 1e6) for name, us in per_module.most_common() if name.startswith("modelreg")][:6]
    left_s = READ_TARGET_S - libraries_s
    verdict = (
        f"The {READ_TARGET_S * 1e3:.0f} ms target is met." if versions_s <= READ_TARGET_S else
        f"The {READ_TARGET_S * 1e3:.0f} ms target is not met on this machine: the interpreter and those libraries "
        + (f"leave {ms(left_s)} of it" if left_s > 0 else "alone take all of it")
        + f", and modelreg's modules, the command's work and the exit take {ms(versions_s - libraries_s)}. "
        "modelreg's largest modules, by their own import time under importtime: "
        + ", ".join(f"`{name}` {ms(sec)}" for name, sec in own)
        + ". Most of that is pydantic creating model classes; a model declared with `defer_build` builds its "
        "validator only when first used."
    )
    command = shlex.join(["python", "bench/bench_cli.py", *sys.argv[1:]])
    text = "\n\n".join([
        text_table(header, rows),
        text_table(["`modelreg versions m`, part by part", "wall clock"], parts),
        text_table(["imports of `modelreg versions m`, by group", "self time"], [[g, ms(s)] for g, s in groups]),
    ])
    body = "\n".join([
        "## CLI start-up (`bench/bench_cli.py`)", "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC. Command:", "", "```sh", command, "```", "",
        "Each row times a whole process (start-up, imports, the query, the output, the interpreter's exit) by wall "
        f"clock: the median of {args.runs} runs after a warm-up, the commands interleaved. The registry is the "
        "embedded default (SQLite + local files) in a fresh `MODELREG_HOME` holding one model with three versions; "
        "`modelreg` is the installed console script. Bytecode caching is on, as in an installed package. "
        + (f"*{trees[0].label}* is the source tree of git revision `{args.baseline}`, measured in the same run."
           if len(trees) > 1 else ""),
        "", markdown_table(header, rows), "",
        "How the read commands stay quick: `import modelreg` loads no submodule until a name is used (PEP 562); "
        "the CLI imports only the module of the command it runs (the server, the export runner, the HTTP client, "
        "Alembic and PostgreSQL's dialect are never loaded for a local read, which `tests/test_cli_imports.py` "
        "checks); "
        "domain models build their validators on first use (`defer_build`), a page of versions the store "
        "already checked is not checked again (`Page.of`), and rich's emoji table is never loaded; the console "
        "script keeps the cyclic garbage collector from walking the start-up objects again and again "
        "(`gc.freeze`), and when the command is done and no other thread runs it ends the process at once, after "
        "flushing the output and running the exit functions, instead of tearing every module down one by one.",
        "",
        "### Where the time goes",
        "",
        f"`modelreg versions m` ({ms(versions_s)}) part by part, each from the difference of two processes timed "
        "alike (the import-only ones import the same modules the same way the console script does, the garbage "
        "collector paused):",
        "",
        markdown_table(["part", "wall clock"], parts),
        "",
        f"`python -X importtime` of `modelreg versions m` counts {ms(total_import_s)} of imports (importtime "
        "itself slows them down; median of 3 runs), by group:",
        "",
        markdown_table(["group", "self time"], [[g, ms(s)] for g, s in groups]),
        "",
        "<details><summary>The 15 largest packages</summary>\n",
        markdown_table(["package", "self time"], [[f"`{n}`", ms(s)] for n, s in top]),
        "\n</details>",
        "",
        f"So the interpreter and the libraries a read cannot do without (SQLAlchemy for the query, pydantic for "
        f"the domain types, typer and rich for the command line) take {ms(libraries_s)} of the {ms(versions_s)} "
        f"({libraries_s / versions_s:.0%}) before modelreg runs a line; SQLAlchemy's import is the largest single "
        "cost, as `import sqlalchemy` loads the engine, the SQL compiler, the schema and the types together, "
        "whatever part a caller uses.",
        "",
        verdict,
        "",
        "Machine:", *[f"- {k}: {v}" for k, v in facts.items() if k not in ("PostgreSQL",)],
    ])
    return text, body


def baseline_tree(rev: str, work: Path) -> Path:
    """``src`` of git revision ``rev``, unpacked into ``work``."""
    dest = work / f"src-{re.sub(r'[^A-Za-z0-9._-]', '_', rev)}"
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each command (after one warm-up)")
    parser.add_argument("--baseline", default=None, help="also measure this git revision's source tree (e.g. HEAD)")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the source tree measured (default: this "
                                                                        "checkout's src)")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    started = datetime.now(UTC)
    with scratch_dir(None, "bench_cli_") as work:
        pycache = work / "pycache"
        trees = []
        if args.baseline:
            trees.append(Tree(f"before ({args.baseline})", baseline_tree(args.baseline, work), work / "home-before"))
        trees.append(Tree("now" if args.baseline else "this tree", args.src.resolve(), work / "home-now"))
        facts = machine_facts(work, None)
        for tree in trees:
            make_registry(tree, work, pycache)
        samples = measure(trees, pycache, args.runs)
        per_module = import_breakdown(trees[-1], pycache)
    text, body = render(args, trees, samples, per_module, facts, started)
    print(text)
    if not args.no_doc:
        replace_section(DOC, "bench_cli", body)
        print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
