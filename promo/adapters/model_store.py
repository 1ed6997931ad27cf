"""Trained model artefacts on disk: ``<root>/<name>/<version>/``.

Each version holds ``arrays.npz`` (the fitted state as plain numeric and text arrays),
``params.json`` (the estimator's parameters) and ``metadata.json`` (training window, row
counts, library versions, metrics, code revision). Nothing is pickled: loading reads
arrays with ``allow_pickle=False`` and JSON, so an artefact cannot run code.
A version is written to a hidden directory and renamed into place, so a reader never
sees half an artefact.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")
FILES = ("arrays.npz", "params.json", "metadata.json")


class ArtefactError(Exception):
    """A model name or version is invalid, missing or incomplete."""


@dataclasses.dataclass(frozen=True)
class Artefact:
    name: str
    version: str
    arrays: dict[str, np.ndarray]
    params: dict[str, Any]
    metadata: dict[str, Any]


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ArtefactError(f"invalid model name {name!r}: lower-case letters, digits and _")
    return name


def check_version(version: str) -> str:
    if not _VERSION.match(version):
        raise ArtefactError(f"invalid model version {version!r}")
    return version


class ModelStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def new_version(self, name: str, now: dt.datetime | None = None) -> str:
        """A sortable, unused version id: the UTC time of training."""
        stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
        version, n = stamp, 1
        while (self.root / check_name(name) / version).exists():
            n += 1
            version = f"{stamp}-{n}"
        return version

    def save(self, name: str, version: str, arrays: dict[str, np.ndarray], params: dict[str, Any],
             metadata: dict[str, Any]) -> Path:
        final = self.root / check_name(name) / check_version(version)
        if final.exists():
            raise ArtefactError(f"model {name} version {version} exists already")
        for key, array in arrays.items():
            if np.asarray(array).dtype == object:
                raise ArtefactError(f"array {key!r} has object dtype, which would need pickle")
        staging = final.parent / f".{version}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        np.savez(staging / "arrays.npz", **arrays)
        (staging / "params.json").write_text(json.dumps(params, indent=2, sort_keys=True))
        (staging / "metadata.json").write_text(json.dumps(
            {**metadata, "name": name, "version": version}, indent=2, sort_keys=True, default=str))
        os.replace(staging, final)
        return final

    def load(self, name: str, version: str) -> Artefact:
        folder = self.root / check_name(name) / check_version(version)
        missing = [file for file in FILES if not (folder / file).is_file()]
        if missing:
            raise ArtefactError(f"model {name} version {version} not found in {self.root} "
                                f"(missing {', '.join(missing)})")
        with np.load(folder / "arrays.npz", allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
        return Artefact(name, version, arrays, json.loads((folder / "params.json").read_text()),
                        json.loads((folder / "metadata.json").read_text()))

    def metadata(self, name: str, version: str) -> dict[str, Any]:
        path = self.root / check_name(name) / check_version(version) / "metadata.json"
        if not path.is_file():
            raise ArtefactError(f"model {name} version {version} not found in {self.root}")
        return json.loads(path.read_text())

    def versions(self, name: str) -> list[str]:
        """Complete versions of ``name``, oldest first."""
        folder = self.root / check_name(name)
        if not folder.is_dir():
            return []
        return sorted(entry.name for entry in folder.iterdir()
                      if _VERSION.match(entry.name) and all((entry / file).is_file() for file in FILES))

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(entry.name for entry in self.root.iterdir() if entry.is_dir() and _NAME.match(entry.name))
