"""Errors of the training package; the CLI turns them into one line and exit code 2."""


class TrainingError(Exception):
    """Base class of the training package's errors."""


class DataError(TrainingError):
    """The input data cannot be used: missing file, wrong columns, bad values."""


class DriftError(TrainingError):
    """A drift option names an unknown column or category, or a value out of range."""


class ParityError(TrainingError):
    """The ONNX model does not reproduce the LightGBM model within tolerance."""
