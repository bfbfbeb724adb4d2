"""The names of an export's files: stored under ``exports/<format>/<key>/``, pulled by their own name."""

from __future__ import annotations


def export_file_name(path: str) -> str:
    """An export file's name inside the export (``exports/onnx/<key>/model.onnx`` → ``model.onnx``)."""
    return path.split("/", 3)[3]
