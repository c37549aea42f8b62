"""Exceptions raised by neuroseq.

Every error says what is wrong, where (file, channel, sample) and how to fix it.
"""


class NeuroseqError(Exception):
    """Base class of every neuroseq error."""


class DataError(NeuroseqError, ValueError):
    """Input data that neuroseq refuses to use (NaN, flat channels, wrong units, bad events...)."""


class FormatError(NeuroseqError, ValueError):
    """A file that cannot be read: unknown type, truncated, corrupt or missing fields."""


class MissingPackageError(NeuroseqError, ImportError):
    """An optional package (sample data, extra format support) is not installed."""


class MissingFieldsError(FormatError):
    """Array data without the facts needed to read it; ``fields`` names every missing one
    (``sfreq``, ``ch_names``, ``ch_types``) so a caller can phrase them as its own options."""

    def __init__(self, message: str, fields: list[str], where: str = "") -> None:
        super().__init__(message)
        self.fields, self.where = list(fields), where
