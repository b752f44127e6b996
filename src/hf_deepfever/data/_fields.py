"""Fast text parsing for the corpus loaders: list lines split into fields, and fields parsed into numbers with a
validity mask.

Each function is a vectorised Arrow / NumPy kernel over a whole batch of lines (FEC lists half a million); a value
that does not parse comes back marked invalid, never as an error, so the loader can skip and count its row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NUMBER_PATTERN = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"


def split_fields(lines: pa.Array, separator: str) -> tuple[pa.ListArray, np.ndarray]:
    """Each line split at ``separator``, and the number of fields per line."""
    fields = pc.split_pattern(lines, separator)
    return fields, pc.list_value_length(fields).to_numpy(zero_copy_only=False)


def field(fields: pa.ListArray, index: int) -> pa.StringArray:
    """Column ``index`` of split lines (every line must have more than ``index`` fields)."""
    return pc.utf8_trim_whitespace(pc.list_element(fields, index))


def parse_floats(values: pa.Array, dtype: type[np.floating] = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Strings to numbers of ``dtype`` (the type they are stored in), and a mask of the values that were
    well-formed and are finite IN ``dtype``: ``1e39`` is a valid float64 but an ``inf`` float32, so it is
    invalid here. Invalid values come back as NaN; range checks on the result see what will be stored.

    Tries one vectorised cast first; only when that fails is each value checked with a regular
    expression (still vectorised), so clean files take the fast path.
    """
    try:
        numbers = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
        well_formed = np.ones(len(numbers), dtype=bool)
    except pa.ArrowInvalid:
        values = pc.utf8_trim_whitespace(values)
        matched = pc.fill_null(pc.match_substring_regex(values, _NUMBER_PATTERN), False)
        cleaned = pc.if_else(matched, values, pa.scalar("nan"))
        numbers = pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False)
        well_formed = matched.to_numpy(zero_copy_only=False)
    with np.errstate(over="ignore"):  # overflow to inf is what is being detected
        numbers = np.asarray(numbers, dtype=np.float64).astype(dtype)
    valid = well_formed & np.isfinite(numbers)
    if valid.all():
        return numbers, valid
    return np.where(valid, numbers, np.nan).astype(dtype), valid


_EXACT_INTEGER_LIMIT = 2**53  # float64 holds every integer below this exactly


def parse_ints(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Strings to int64, and a mask of the values that were integral numbers below 2**53 in magnitude
    (larger ones cannot be told apart from their neighbours once parsed, nor cast to int64 safely)."""
    numbers, valid = parse_floats(values, np.float64)
    valid &= np.abs(np.where(valid, numbers, 0.0)) < _EXACT_INTEGER_LIMIT
    valid &= numbers == np.floor(np.where(valid, numbers, 0.0))
    return np.where(valid, numbers, -1).astype(np.int64), valid


def has_null_literal(fields: pa.ListArray, row_count: int) -> np.ndarray:
    """Rows with at least one field that is exactly the literal ``NULL``."""
    flat = pc.utf8_trim_whitespace(pc.list_flatten(fields))
    is_null_literal = pc.equal(flat, "NULL").to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(fields).to_numpy(zero_copy_only=False)
    flags = np.zeros(row_count, dtype=bool)
    flags[parents[is_null_literal]] = True
    return flags


__all__ = ["field", "has_null_literal", "parse_floats", "parse_ints", "split_fields"]
