"""Exports through the registry: time per format, parity, exported-vs-eager latency, the cached re-export.

    python bench/bench_export.py [--quick] [--runs 30] [--formats onnx torchscript tflite coreml]

Two models the script builds itself (nothing is downloaded): a small conv net (detection-like head) and a
~25M-parameter CNN, registered as ``torch.export`` programs (.pt2) into a fresh embedded registry. For each
model, format and precision it runs ``reg.export`` (conversion and parity check in child processes, the
files stored in the registry), then ``reg.bench`` at batch 1 and 16 (p50 latency of the exported model in
its runtime and of PyTorch eager, same process, same inputs), and calls ``reg.export`` once more to time
the cached answer.

Prints the table and writes it into docs/benchmarks.md between ``<!-- bench_export:start -->`` and
``<!-- bench_export:end -->``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import machine_facts, markdown_table, replace_section, scratch_dir, text_table

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"

# (format, options, label)
PLANS: list[tuple[str, dict[str, Any], str]] = [
    ("onnx", {}, "FP32"),
    ("onnx", {"half": True}, "FP16"),
    ("onnx", {"int8": "dynamic"}, "INT8 dynamic"),
    ("onnx", {"int8": "static"}, "INT8 static (QDQ)"),
    ("torchscript", {}, "FP32"),
    ("tflite", {"dynamic_batch": False}, "FP32"),
    ("tflite", {"dynamic_batch": False, "int8": "dynamic"}, "INT8 dynamic range"),
    ("coreml", {"dynamic_batch": False}, "FP32"),
]


def build_models(work: Path) -> dict[str, tuple[Path, int, int]]:
    """name -> (``torch.export`` program file (.pt2, dynamic batch), parameters, image size)."""
    import torch
    from torch import nn

    class Small(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU())
            self.head = nn.Conv2d(32, 3 * 9, 1)  # 3 anchors x (4 box + 1 objectness + 4 classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.head(self.body(x))
            return out.flatten(2).transpose(1, 2).reshape(x.shape[0], -1, 9)  # type: ignore[no-any-return]

    def block(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))

    class Large(nn.Module):  # ~25M parameters, VGG-like
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(block(3, 64), block(64, 128), block(128, 256), block(256, 512),
                                      block(512, 1024))
            self.head = nn.Sequential(nn.Linear(1024, 4096), nn.ReLU(), nn.Linear(4096, 1000))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(x).mean((2, 3)))  # type: ignore[no-any-return]

    torch.manual_seed(0)
    out: dict[str, tuple[Path, int, int]] = {}
    for name, net, size in (("small conv net", Small(), 64), ("25M-param CNN", Large(), 128)):
        net.eval()
        path = work / f"{name.split()[0]}.pt2"
        batch = torch.export.Dim("batch", min=1, max=64)
        program = torch.export.export(net, (torch.randn(2, 3, size, size),), dynamic_shapes=({0: batch},))
        torch.export.save(program, str(path))
        out[name] = (path, sum(p.numel() for p in net.parameters()), size)
    return out


def run(args: argparse.Namespace) -> None:
    import modelreg
    from modelreg.config import Settings

    started = time.perf_counter()
    with scratch_dir(None, "bench_export_") as work:
        facts = machine_facts(work, None)
        models = build_models(work)
        reg = modelreg.connect(settings=Settings(home=work / "home", actor="bench"))
        rows: list[list[str]] = []
        findings: list[str] = []  # why a row is not "ok", in the registry's own words
        cached: list[float] = []
        for name, (path, params, size) in models.items():
            model = name.split()[0]
            reg.create_model(model, task="classification")
            sig = {"inputs": [{"name": "images", "dtype": "float32", "shape": [-1, 3, size, size]}]}
            reg.register_version(model, files={"weights/model.pt2": path}, signature=sig)
            for fmt, options, label in PLANS:
                if fmt not in args.formats or (args.quick and model == "25M-param" and label != "FP32"):
                    continue
                print(f"{name}: {fmt} {label} ...", flush=True)
                try:
                    exported = reg.export(f"{model}:1", fmt, **options)
                except Exception as exc:  # a toolchain refusing a graph is a result, not a crash of the bench
                    rows.append([name, f"{params / 1e6:.1f}M", fmt, label, "error", "-", "-", "-", "-", "-", "-"])
                    findings.append(f"{name}, {fmt} {label}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                    continue
                if exported.status != "ok" and exported.parity is not None and exported.parity.reason:
                    findings.append(f"{name}, {fmt} {label}: {exported.status}: {exported.parity.reason}")
                t0 = time.perf_counter()
                for _ in range(5):
                    reg.export(f"{model}:1", fmt, **options)
                cached.append((time.perf_counter() - t0) / 5)
                worst = max((o.max_abs_diff for o in exported.parity.outputs), default=float("nan")) \
                    if exported.parity else float("nan")
                lat: dict[tuple[str, int], float] = {}
                if exported.status != "unverified":
                    try:
                        batches = [1, 16] if exported.options.dynamic_batch else [1]
                        benched = reg.bench(f"{model}:1", fmt, batches=batches, runs=args.runs, **options)
                        lat = {((r.runtime == "pytorch-eager" and "eager") or "export", r.batch): r.p50_ms
                               for r in (benched.bench.rows if benched.bench else [])}
                    except Exception as exc:
                        print(f"  bench failed: {exc}", flush=True)

                def cell(batch: int, lat: dict[tuple[str, int], float] = lat) -> tuple[str, str]:
                    e, x = lat.get(("eager", batch)), lat.get(("export", batch))
                    if e is None or x is None:
                        return "-", "-"
                    return f"{x:.2f} ms", f"{e / x:.2f}x"

                b1, r1 = cell(1)
                b16, r16 = cell(16)
                rows.append([name, f"{params / 1e6:.1f}M", fmt, label, exported.status, f"{exported.duration_s:.1f} s",
                             f"{worst:.2g}", b1, r1, b16, r16])
        reg.close()
    header = ["model", "params", "format", "precision", "status", "export time", "max abs diff",
              "b1 p50", "b1 speed-up vs eager", "b16 p50", "b16 speed-up vs eager"]
    print(text_table(header, rows))
    cached_ms = statistics.median(cached) * 1e3 if cached else float("nan")
    print(f"cached re-export (median of {len(cached)} formats x 5 calls): {cached_ms:.2f} ms")
    command = "python bench/bench_export.py" + (" --quick" if args.quick else "") + f" --runs {args.runs}"
    body = "\n".join([
        "## Exports (`bench/bench_export.py`)", "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {(time.perf_counter() - started) / 60:.1f} min. Command:",
        "", "```sh", command, "```", "",
        "Each row: `reg.export` of a version holding a `torch.export` program (`.pt2`), in a fresh embedded "
        "registry (conversion and the parity check in child processes, files stored and verified), then "
        "`reg.bench` (p50 of "
        f"{args.runs} timed runs after warm-up, exported runtime and PyTorch eager in the same child, same inputs; "
        "speed-up = eager p50 / exported p50, above 1 is faster). *max abs diff* is the parity check's worst output "
        "difference at a batch size other than the export's. Export time is the conversion alone. CoreML converts "
        "on Linux but runs only on macOS, so it is `unverified` and not timed. Static exports (TFLite) run at batch 1.",
        "", markdown_table(header, rows), "",
        *[f"- {line}" for line in findings],
        f"- A cached export (the same version + format + options asked again) returns in **{cached_ms:.2f} ms** "
        f"(median over {len(cached)} formats x 5 calls): one metadata read, no child process.",
        "", "Machine:", *[f"- {k}: {v}" for k, v in facts.items() if k not in ("SQLite", "PostgreSQL")],
    ])
    replace_section(DOC, "bench_export", body)
    print(f"wrote {DOC}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="FP32 only for the 25M-parameter model")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per batch size")
    parser.add_argument("--formats", nargs="+", default=["onnx", "torchscript", "tflite", "coreml"])
    run(parser.parse_args())


if __name__ == "__main__":
    main()
