"""The scaffolding every evaluate module of this package shares: a metric states its description, arguments,
citation and features once, and :class:`DocumentedMetric` builds ``evaluate``'s ``MetricInfo`` and docstring
from them.

A module imports this file as a module (``from hf_deepfever.evaluate_modules import documented_metric``), never the
class itself: ``evaluate.load`` takes the first metric class it finds in a module's namespace as its metric.
"""

from __future__ import annotations

from typing import Any, ClassVar

import evaluate


class DocumentedMetric(evaluate.Metric):
    """An ``evaluate.Metric`` computed by :mod:`hf_deepfever.metrics`.

    A subclass sets :attr:`DESCRIPTION`, :attr:`ARGUMENTS` (the ``Args`` / ``Returns`` / ``Examples`` text),
    :attr:`CITATION`, optionally :attr:`INPUT_FORMAT`, and implements :meth:`_features`; its docstring is prefixed
    with the description and arguments, as ``evaluate.utils.file_utils.add_start_docstrings`` does.
    """

    DESCRIPTION: ClassVar[str] = ""
    ARGUMENTS: ClassVar[str] = ""
    CITATION: ClassVar[str] = ""
    INPUT_FORMAT: ClassVar[str | None] = None  # None: Python lists (the "numpy" format takes scalar features only)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        evaluate.utils.file_utils.add_start_docstrings(cls.DESCRIPTION, cls.ARGUMENTS)(cls)

    def _features(self) -> Any:
        """The ``datasets.Features`` of the inputs (or a list of them, when the first batch picks one)."""
        raise NotImplementedError

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self.DESCRIPTION,
            citation=self.CITATION,
            inputs_description=self.ARGUMENTS,
            features=self._features(),
            format=self.INPUT_FORMAT,
        )


__all__ = ["DocumentedMetric"]
