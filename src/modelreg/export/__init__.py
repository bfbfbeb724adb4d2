"""Exports of a version to deployment formats (ONNX, TorchScript, CoreML, TFLite), verified and benchmarked.

``job`` holds the plain data both sides exchange; ``runner`` (no torch) runs the work in child
processes (``worker``), one module per format does the converting. Importing this package imports nothing
heavy: the toolchains load only inside the children.
"""
