"""Errors that cross the plugin seam: a plugin raises these (or subclasses), the CLI prints them and the
app shows them, without knowing which plugin raised."""

from __future__ import annotations


class Cancelled(Exception):
    """The caller's ``cancelled()`` turned true; nothing was produced."""


class ModelError(RuntimeError):
    """A model cannot be used: weights unusable, or a plugin failed in a way the user can act on."""


class WeightsMissingError(ModelError, FileNotFoundError):
    """The weights file is not there; the message says how to make it."""


class ModelInputError(ModelError, ValueError):
    """The input does not suit the model (too few slices, no usable phase, NaNs ...)."""


class PluginContractError(ModelError, TypeError):
    """A contribution's factory returned something that does not follow the protocol of its kind."""
