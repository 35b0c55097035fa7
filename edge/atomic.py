"""Small state files replaced whole: a crash leaves the old file or the new one, never half.

The text is written beside the file, synced, renamed over it, and the rename synced too.
Used for what the agent keeps between runs: the mat calibration, the pause, the Home
Assistant config topic announced last.
"""

from __future__ import annotations

import os
from pathlib import Path


def replace_text(path: str | os.PathLike[str], text: str) -> None:
    """Put `text` in `path` atomically; OSError if it cannot be written."""
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    with partial.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, target)
    try:  # the rename itself on disk
        directory = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)
