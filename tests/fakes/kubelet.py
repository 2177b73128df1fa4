"""What the kubelet does to a Secret volume: each key a symlink into ``..data``, which is swapped
atomically to a new timestamped directory when the Secret changes (no subPath mounts)."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path


def publish(directory: Path, values: dict[str, str]) -> None:
    """What the kubelet's atomic writer does when a Secret changes."""
    directory.mkdir(exist_ok=True)
    stamp = directory / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{uuid.uuid4().hex[:8]}"
    stamp.mkdir()
    for key, value in values.items():
        (stamp / key).write_text(value)
    old = os.readlink(directory / "..data") if (directory / "..data").is_symlink() else None
    temporary = directory / "..data_tmp"
    os.symlink(stamp.name, temporary)
    os.replace(temporary, directory / "..data")
    for key in values:
        if not (directory / key).is_symlink():
            os.symlink(f"..data/{key}", directory / key)
    for entry in directory.iterdir():
        if entry.is_symlink() and not entry.name.startswith("..") and entry.name not in values:
            entry.unlink()
    if old is not None:
        shutil.rmtree(directory / old)
