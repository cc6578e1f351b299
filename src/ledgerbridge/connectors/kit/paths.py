"""Paths on the hub's server that a connection's settings name (a watched folder, a logo):
checked when they are saved, so a person hears at once what a scan or a mail would find later.
Reading saved settings stays tolerant: a path that went missing since is the run's to report.
"""

from __future__ import annotations

import os
from pathlib import Path

from ledgerbridge.connectors.settings import PathKind
from ledgerbridge.mail.pdf import image_unusable


def folder_problem(path: str) -> str | None:
    """Why the hub cannot watch ``path``: it lists the folder, reads its files and moves each
    into ``processed/`` or ``failed/`` under it; None when it can."""
    folder = Path(path)
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


def path_problem(kind: PathKind, path: str) -> str | None:
    return folder_problem(path) if kind == "folder" else image_problem(path)
