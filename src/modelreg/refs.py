"""Names, references and artifact paths: the one parser every face uses.

A reference is ``[project/]model[:version]`` or ``[project/]model@alias``::

    fire-detector            the model (its production alias or latest, depending on the call)
    fire-detector:3          version 3          fire-detector:v3   the same
    fire-detector:latest     the newest ready version
    fire-detector:best       the best version by the model's policy (or the one marked best)
    recommender:v4_no_leakage  the version labelled v4_no_leakage (a label is any other name)
    embereye/fire-detector@production

Version numbers run from 1 to ``MAX_VERSION``, the largest the metadata stores' INTEGER column holds:
a larger one is refused here as InvalidReference (422) before any store is asked, so every backend
(memory, SQLite, PostgreSQL) and every face answers it alike.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from modelreg.errors import InvalidArtifactPath, InvalidName, InvalidReference

NAME_MAX = 128
MAX_VERSION = 2**31 - 1  # versions.number is a 32-bit INTEGER on PostgreSQL
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VERSION_RE = re.compile(r"[vV]?([0-9]+)")
Selector = Literal["latest", "best"]


def validate_name(name: object, *, kind: str = "name") -> str:
    """Return ``name`` if it is a valid project, model, alias or tag name; raise InvalidName otherwise.

    Valid: ASCII letters, digits, ``.``, ``_``, ``-``; starts with a letter or digit; at most 128
    characters; no ``..``. Unicode look-alikes are refused so two names that look the same are the same.
    """
    if not isinstance(name, str) or not name:
        raise InvalidName(f"{kind} must be a non-empty string", hint="use letters, digits, '.', '_' or '-'",
                          name=str(name), kind=kind)
    if len(name) > NAME_MAX:
        raise InvalidName(f"{kind} {name[:40]!r}… is {len(name)} characters long; the limit is {NAME_MAX}",
                          hint="choose a shorter name", name=name[:NAME_MAX], kind=kind)
    if not name.isascii():
        bad = next(ch for ch in name if not ch.isascii())
        raise InvalidName(f"{kind} {name!r} contains the non-ASCII character {bad!r} (U+{ord(bad):04X})",
                          hint="names are ASCII so that look-alike characters cannot make two names "
                               "that look the same", name=name, kind=kind)
    if not _NAME_RE.fullmatch(name) or ".." in name:
        raise InvalidName(f"{kind} {name!r} is not a valid name",
                          hint="use letters, digits, '.', '_' or '-', start with a letter or digit, "
                               "no '/', spaces or '..'", name=name, kind=kind)
    return name


def validate_label(name: object) -> str:
    """A version label: a name (``v4_no_leakage``, ``2024-11-10``) that cannot read as a number or selector."""
    label = validate_name(name, kind="version label")
    if label in ("latest", "best") or _VERSION_RE.fullmatch(label):
        raise InvalidName(f"version label {label!r} is reserved: it would read as a version number or selector",
                          hint="pick a label that is not latest, best or a number such as v3, e.g. v3_baseline",
                          name=label)
    return label


def validate_alias(name: object) -> str:
    alias = validate_name(name, kind="alias")
    if alias in ("latest", "best") or re.fullmatch(r"v?\d+", alias):
        raise InvalidName(f"alias {alias!r} is reserved: it would read as a version selector",
                          hint="choose another alias name, e.g. 'production' or 'staging'", name=alias)
    return alias


@dataclass(frozen=True)
class Ref:
    """A parsed reference to a model or one of its versions."""

    model: str
    project: str | None = None
    number: int | None = None
    selector: Selector | None = None
    alias: str | None = None
    label: str | None = None

    @property
    def names_version(self) -> bool:
        return (self.number is not None or self.selector is not None or self.alias is not None
                or self.label is not None)

    def __str__(self) -> str:
        base = f"{self.project}/{self.model}" if self.project else self.model
        if self.number is not None:
            return f"{base}:v{self.number}"
        if self.selector is not None:
            return f"{base}:{self.selector}"
        if self.alias is not None:
            return f"{base}@{self.alias}"
        if self.label is not None:
            return f"{base}:{self.label}"
        return base


def parse_ref(text: object) -> Ref:
    """Parse a reference string; raise InvalidReference with what is wrong and the accepted forms."""
    forms = ("use model, model:3, model:v3, model:latest, model:best, model:LABEL or model@alias, optionally "
             "project/model")
    if not isinstance(text, str) or not text.strip():
        raise InvalidReference("empty reference", hint=forms, ref=str(text))
    text = text.strip()
    project: str | None = None
    rest = text
    if "/" in rest:
        project, _, rest = rest.partition("/")
        if "/" in rest:
            raise InvalidReference(f"reference {text!r} has more than one '/'", hint=forms, ref=text)
    number: int | None = None
    selector: Selector | None = None
    alias: str | None = None
    label: str | None = None
    if "@" in rest and ":" in rest:
        raise InvalidReference(f"reference {text!r} names both a version and an alias", hint=forms, ref=text)
    if "@" in rest:
        rest, _, alias_part = rest.partition("@")
        try:
            alias = validate_name(alias_part, kind="alias")
        except InvalidName as exc:
            raise InvalidReference(f"reference {text!r}: {exc.message}", hint=forms, ref=text) from exc
    elif ":" in rest:
        rest, _, ver = rest.partition(":")
        if ver in ("latest", "best"):
            selector = ver  # type: ignore[assignment]
        elif _VERSION_RE.fullmatch(ver) or not ver:
            number = _ref_version(text, ver)
        else:
            try:
                label = validate_label(ver)
            except InvalidName as exc:
                raise InvalidReference(f"reference {text[:80]!r}: {ver[:40]!r} is neither a version number, "
                                       "latest, best nor a version label", hint=forms, ref=text[:80]) from exc
    try:
        model = validate_name(rest, kind="model name")
        if project is not None:
            project = validate_name(project, kind="project name")
    except InvalidName as exc:
        raise InvalidReference(f"reference {text!r}: {exc.message}", hint=forms, ref=text) from exc
    return Ref(model=model, project=project, number=number, selector=selector, alias=alias, label=label)


def version_number(text: str) -> int | None:
    """The number ``text`` names (``3``, ``v3``, ``V3``), or None when it is not written as a number.

    Raises InvalidReference for 0 or a number past ``MAX_VERSION`` (digits are counted before ``int()``,
    so thousands of them cost nothing).
    """
    m = _VERSION_RE.fullmatch(text)
    if m is None:
        return None
    digits = m.group(1).lstrip("0")
    number = int(digits) if 0 < len(digits) <= len(str(MAX_VERSION)) else None
    if number is None or number > MAX_VERSION:
        shown = text if len(text) <= 20 else text[:20] + "…"
        raise InvalidReference(f"version {shown} is out of range",
                               hint=f"version numbers run from 1 to {MAX_VERSION}", version=shown)
    return number


def _ref_version(text: str, ver: str) -> int:
    try:
        number = version_number(ver)
    except InvalidReference as exc:
        raise InvalidReference(f"reference {text[:80]!r}: {exc.message}",
                               hint=f"a version is a number from 1 to {MAX_VERSION} (model:3 or model:v3), "
                                    "model:latest or model:best", ref=text[:80]) from exc
    if number is None:
        raise InvalidReference(f"reference {text!r}: {ver!r} is not a version",
                               hint="a version is a positive number (model:3 or model:v3), "
                                    "model:latest or model:best", ref=text)
    return number


_PATH_MAX = 1024
_SEGMENT_MAX = 255


def validate_artifact_path(path: object) -> str:
    """Return the normalized relative POSIX path of an artifact, or raise InvalidArtifactPath.

    Refused: absolute paths, drive letters, backslashes, ``..`` or ``.`` segments, empty segments,
    control characters, over-long paths. The path must stay inside the version.
    """
    if not isinstance(path, str) or not path:
        raise InvalidArtifactPath("artifact path must be a non-empty string", path=str(path))
    hint = "artifact paths are relative to the version, like 'weights/best.pt'"
    if len(path) > _PATH_MAX:
        raise InvalidArtifactPath(f"artifact path is {len(path)} characters; the limit is {_PATH_MAX}",
                                  hint=hint, path=path[:80])
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        raise InvalidArtifactPath(f"artifact path {path!r} contains a control character", hint=hint, path=path)
    if "\\" in path:
        raise InvalidArtifactPath(f"artifact path {path!r} contains a backslash", hint="use '/' between folders",
                                  path=path)
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise InvalidArtifactPath(f"artifact path {path!r} is absolute", hint=hint, path=path)
    segments = path.split("/")
    for seg in segments:
        if seg in ("", ".", ".."):
            raise InvalidArtifactPath(f"artifact path {path!r} escapes or is not normalized (segment {seg!r})",
                                      hint=hint, path=path)
        if len(seg) > _SEGMENT_MAX:
            raise InvalidArtifactPath(f"artifact path {path!r} has a segment over {_SEGMENT_MAX} characters",
                                      hint=hint, path=path[:80])
        if seg != seg.strip():
            raise InvalidArtifactPath(f"artifact path {path!r} has a name that begins or ends with a space "
                                      f"({seg!r})", hint="most file systems cannot hold such a file; rename it",
                                      path=path)
    return path


def check_file_count(count: int, *, limit: int) -> None:
    """At most ``limit`` files in one version (checked before any other work on them)."""
    if count > limit:
        raise InvalidArtifactPath(f"a version holds at most {limit:,} files; this one would hold {count:,}",
                                  field="files", limit=limit, count=count,
                                  hint="pack many small files into an archive (tar or zip) and register that")


def check_artifact_paths(paths: Collection[str], *, limit: int) -> None:
    """The files of one version can all be written out: at most ``limit`` of them, no path twice, and no
    path that is also a folder of another (``a`` beside ``a/b``); InvalidArtifactPath names the first clash.
    Linear in the number of paths."""
    check_file_count(len(paths), limit=limit)
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            raise InvalidArtifactPath(f"two files would be stored at {path!r}", path=path,
                                      hint="give them different artifact paths")
        seen.add(path)
    folders = {path[:i] for path in seen for i, ch in enumerate(path) if ch == "/"}
    clashes = sorted(seen & folders)
    if clashes:
        inside = min(p for p in seen if p.startswith(clashes[0] + "/"))
        raise InvalidArtifactPath(f"{clashes[0]!r} would be both a file and the folder of {inside!r}",
                                  hint="rename one of them", path=clashes[0])
