"""Settings and the data home.

Everything skintrack stores lives under one folder, the data home: the DuckDB file,
the images (by content hash) and the backups. ``user_dir()`` resolves it from the
``SKINTRACK_HOME`` environment variable, else ``~/.skintrack``. Resolving it creates
nothing: the code that writes there creates the folders it writes into.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEMO_MARKER = "DEMO_HOME"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def user_dir(home: str | os.PathLike | None = None) -> Path:
    """The data home: ``home`` if given, else ``$SKINTRACK_HOME``, else ``~/.skintrack``."""
    if home is None:
        home = os.environ.get("SKINTRACK_HOME") or Path.home() / ".skintrack"
    return Path(home).expanduser().resolve()


@dataclass(frozen=True)
class Settings:
    """Where data lives and the limits applied to incoming photos."""

    home: Path = field(default_factory=user_dir)
    # Uploads larger than this are refused before decoding (bytes).
    max_upload_bytes: int = 40 * 1024 * 1024
    # Longest side in pixels; a 20,000 px photo is not a selfie.
    max_side: int = 12_000
    # Total pixels allowed through the decoder (decompression-bomb guard).
    max_pixels: int = 64_000_000
    # Shortest side in pixels below which a photo cannot show skin detail.
    min_side: int = 64

    @classmethod
    def for_home(cls, home: str | os.PathLike | None = None) -> Settings:
        """Settings for the data home ``home`` (resolved as ``user_dir`` does)."""
        return cls(home=user_dir(home))

    @property
    def db_path(self) -> Path:
        return self.home / "skintrack.duckdb"

    @property
    def images_dir(self) -> Path:
        return self.home / "images"

    @property
    def backups_dir(self) -> Path:
        return self.home / "backups"

    @property
    def is_demo(self) -> bool:
        """True for a home made by ``python -m skintrack demo``."""
        return (self.home / DEMO_MARKER).exists()
