"""`evaluate` module: AffectNet expression accuracy and macro-F1, 8-class and 7-class (contempt masked)."""

import datasets

from hf_deepfever.evaluate_modules import documented_metric
from hf_deepfever.metrics import expression_metrics

_DESCRIPTION = """
Expression recognition accuracy and macro-F1 under AffectNet's two protocols. `predictions` are the
per-class expression logits (or probabilities) of each image, `references` the class ids.
8-class: argmax over all 8 logits. 7-class: images labelled 7 (contempt) are dropped and the contempt
logit is masked out (argmax over the first 7). Rows with a negative reference (ignore index) are dropped.
Macro-F1 matches scikit-learn's `f1_score(average="macro", zero_division=0)`.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `float`): logits, shape (N, num_classes).
    references (`list` of `int`): class ids in [0, num_classes), or negative to ignore a row.
    num_classes (`int`, defaults to 8): number of logits per row.
    reduced_num_classes (`int` or `None`, defaults to 7): the reduced protocol keeps the first
        `reduced_num_classes` classes; `None` skips it.
Returns:
    accuracy_8, macro_f1_8, num_samples_8, accuracy_7, macro_f1_7, num_samples_7 (names follow the class counts).
Examples:
    >>> from hf_deepfever import evaluate_modules
    >>> metric = evaluate_modules.load("expression_accuracy")
    >>> logits = [[2.0, 0, 0, 0, 0, 0, 0, 1.0], [0, 0, 0, 0, 0, 0, 1.0, 3.0]]
    >>> metric.compute(predictions=logits, references=[0, 6])["accuracy_7"]
    1.0
"""

_CITATION = """
@article{mollahosseini2017affectnet,
  title={AffectNet: A Database for Facial Expression, Valence, and Arousal Computing in the Wild},
  author={Mollahosseini, Ali and Hasani, Behzad and Mahoor, Mohammad H.},
  journal={IEEE Transactions on Affective Computing},
  volume={10}, number={1}, pages={18--31}, year={2019}
}
"""


class ExpressionAccuracy(documented_metric.DocumentedMetric):
    """Expression accuracy / macro-F1 computed by :func:`hf_deepfever.metrics.expression_metrics`."""

    DESCRIPTION, ARGUMENTS, CITATION = _DESCRIPTION, _KWARGS_DESCRIPTION, _CITATION

    def _features(self) -> datasets.Features:
        return datasets.Features(
            {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
        )

    def _compute(self, predictions, references, num_classes: int = 8, reduced_num_classes: int | None = 7):
        return expression_metrics(
            predictions, references, num_classes=num_classes, reduced_num_classes=reduced_num_classes
        )
