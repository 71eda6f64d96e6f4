"""Errors a user can act on. Each message says what is wrong and what to do."""


class ArchiveQAError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero."""


class IndexNotFoundError(ArchiveQAError):
    """No built index at the given place."""


class IndexCorruptError(ArchiveQAError):
    """An index file is missing, truncated or garbled."""


class IndexMismatchError(ArchiveQAError):
    """The index was built with another model or settings than the ones in use."""


class ModelError(ArchiveQAError):
    """The embedding model cannot be found or loaded."""


class BuildLockedError(ArchiveQAError):
    """Another build of the same index is running."""


class EmptyArchiveError(ArchiveQAError):
    """The sources held no readable article; nothing was built or replaced."""


class ArticleNotFoundError(ArchiveQAError):
    """An update names an article (id or url) the index does not hold."""


class UnsupportedModel(ModelError):
    """The model is not a pipeline the OpenVINO backend reproduces; torch can still run it."""


class IndexOutdatedError(ArchiveQAError):
    """The index predates a feature an operation needs; the message names the command."""
