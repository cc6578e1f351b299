"""Paths on the hub's server that a connection's settings name (a watched folder, a logo):
checked when they are saved, so a person hears at once what a scan or a mail would find later.
Reading saved settings stays tolerant: a path that went missing since is the run's to report.
"""

from __future__ import annotations

import os
from pathlib import Path

from ledgerbridge.connectors.settings import PathKind
from ledgerbridge.mail.pdf import image_unusable

ROOT_SETTING = "LEDGERBRIDGE_FILES_WATCH_ROOT"
"""The installation's setting naming the one folder under which watched folders may be."""


def folder_problem(path: str, root: Path | None) -> str | None:
    """Why the hub cannot watch ``path``: it lists the folder, reads its files and moves each
    into ``processed/`` or ``failed/`` under it; None when it can. The folder must lie under
    the installation's ``root`` (links followed), or a tenant could make the hub read and move
    files anywhere it may; that is checked first, so nothing is told about a path outside."""
    if root is None:
        return (
            f"{path} cannot be watched: this installation allows no watch folders "
            f"({ROOT_SETTING} is not set); upload the files instead"
        )
    allowed = root.resolve()
    folder = Path(path)
    resolved = folder.resolve()
    if resolved != allowed and allowed not in resolved.parents:
        return (
            f"{path} is not under {allowed}, the folder under which this installation lets "
            f"connections watch a folder ({ROOT_SETTING}): give a folder under it"
        )
    if not folder.exists():
        return f"{path} does not exist on the hub's server"
    if not folder.is_dir():
        return f"{path} is a file, not a folder"
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        return (
            f"{path} cannot be read and written by the hub (its files are moved into "
            "processed/ and failed/ under it): check the folder's permissions"
        )
    return None


def image_problem(path: str) -> str | None:
    """Why ``path`` cannot go on an invoice PDF; None when it can."""
    file = Path(path)
    if not file.exists():
        return f"{path} does not exist on the hub's server"
    if not file.is_file():
        return f"{path} is a folder, not an image file"
    if not os.access(file, os.R_OK):
        return f"{path} cannot be read by the hub: check the file's permissions"
    if image_unusable(path):
        return f"{path} is not an image the invoice PDF can use: give a PNG or JPEG file"
    return None


def path_problem(kind: PathKind, path: str, watch_root: Path | None) -> str | None:
    return folder_problem(path, watch_root) if kind == "folder" else image_problem(path)
