"""Blob stores: file contents by SHA-256, written atomically and verified on every read."""

from modelreg.blobs.base import BlobInfo, BlobStore, check_digest, open_blob_store

__all__ = ["BlobInfo", "BlobStore", "check_digest", "open_blob_store"]
