"""Errors raised inside Cloaker. Each carries a stable ``code`` that boundaries
(CLI exit codes, the daemon protocol) translate; codes are never reused."""

from __future__ import annotations


class CloakerError(Exception):
    """Base class: a failure with a stable, machine-readable code."""

    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadImageError(CloakerError):
    """The bytes are not an image we can decode (empty, truncated, corrupt, not an image)."""

    code = "bad_image"


class UnsupportedImageError(CloakerError):
    """A real image in a form we do not handle (e.g. an unsupported container)."""

    code = "unsupported_image"


class ImageTooLargeError(CloakerError):
    """Too many pixels or too many bytes (decompression-bomb guard)."""

    code = "image_too_large"


class ModelError(CloakerError):
    """A model artifact is missing, corrupt, or cannot be fetched."""

    code = "model_unavailable"


class CancelledError(CloakerError):
    """The caller cancelled the job."""

    code = "cancelled"
