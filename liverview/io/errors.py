"""Exceptions of the file input layer: each message names the path and says what to do about it."""

from __future__ import annotations


class LoadError(Exception):
    """An input could not be loaded; the message is written for the user and names the path."""


class MissingInputError(LoadError):
    """A path given to a loader does not exist."""


class UnsupportedFormatError(LoadError):
    """A file is not in a format LiverView reads (or holds an image kind it cannot show)."""


class NoImageSeriesError(LoadError):
    """A folder holds no DICOM image series (empty, or only non-image objects / non-DICOM files)."""


class SaveError(Exception):
    """A volume could not be written; the message names the path and the reason."""
