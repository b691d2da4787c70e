"""Cloaker: protect the faces in a photo from face-recognition scraping."""

from __future__ import annotations

__version__ = "0.1.0"
