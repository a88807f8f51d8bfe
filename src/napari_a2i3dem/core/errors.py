"""Exception types raised for bad user input, with messages that name the problem."""


class A2IError(Exception):
    """Base class of all errors this package raises on purpose."""


class InputError(A2IError, ValueError):
    """The user's data or settings cannot be used (wrong shape, NaN, bad spacing, ...)."""


class GeometryUnknown(InputError):
    """The voxel spacing or the up-sampling ratio is missing. The message says what is missing;
    each front-end adds how to give it (the command line: ``commands._common.error_text``)."""


class OutputExists(InputError):
    """An output would replace something that is already there. Nothing is replaced unless the
    user says so; each front-end adds how (the command line: ``--overwrite``)."""


class StackReadError(A2IError, OSError):
    """A file could not be read as an image stack."""


class ModelFileError(A2IError, ValueError):
    """A file is not a model of this package, or comes from an incompatible version."""


class Cancelled(A2IError):
    """Long-running work was cancelled by the user."""
