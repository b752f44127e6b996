"""`evaluate` module: Lin's concordance correlation coefficient (CCC) and RMSE of a continuous signal."""

import datasets

from hf_deepfever.evaluate_modules import documented_metric
from hf_deepfever.metrics import ccc, rmse

_DESCRIPTION = """
Concordance correlation coefficient, CCC = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2), with
population moments, over all pairs where neither value is NaN (NaN references mark missing annotations),
and the root mean squared error over the same pairs. CCC is the standard metric for valence and arousal
(RECOLA / AVEC, AffectNet): compute it once per dimension over the whole set or sequence.
CCC is NaN with fewer than two valid pairs, and 1.0 when both series are constant and equal.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): predicted values.
    references (`list` of `float`): gold values, NaN where not annotated.
Returns:
    ccc (`float`): concordance correlation coefficient in [-1, 1].
    rmse (`float`): root mean squared error.
Examples:
    >>> from hf_deepfever import evaluate_modules
    >>> metric = evaluate_modules.load("concordance_correlation")
    >>> metric.compute(predictions=[1.0, 2.0, 3.0], references=[1.0, 2.0, 3.0])["ccc"]
    1.0
"""

_CITATION = """
@article{lin1989concordance,
  title={A Concordance Correlation Coefficient to Evaluate Reproducibility},
  author={Lin, Lawrence I-Kuei},
  journal={Biometrics},
  volume={45}, number={1}, pages={255--268}, year={1989}
}
"""


class ConcordanceCorrelation(documented_metric.DocumentedMetric):
    """CCC and RMSE computed by :func:`hf_deepfever.metrics.ccc` and :func:`hf_deepfever.metrics.rmse`."""

    DESCRIPTION, ARGUMENTS, CITATION = _DESCRIPTION, _KWARGS_DESCRIPTION, _CITATION
    INPUT_FORMAT = "numpy"

    def _features(self) -> datasets.Features:
        return datasets.Features({"predictions": datasets.Value("float64"), "references": datasets.Value("float64")})

    def _compute(self, predictions, references):
        return {"ccc": ccc(predictions, references), "rmse": rmse(predictions, references)}
