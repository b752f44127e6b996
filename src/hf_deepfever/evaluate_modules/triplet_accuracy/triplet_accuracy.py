"""`evaluate` module: Google FEC triplet prediction accuracy, overall and per triplet type."""

import datasets

from hf_deepfever.evaluate_modules import documented_metric
from hf_deepfever.metrics import triplet_accuracy

_DESCRIPTION = """
Triplet prediction accuracy on the Google Facial Expression Comparison (FEC) corpus: a triplet is right
when the distance between the expression vectors of its two similar faces is strictly smaller than both
other pairwise distances (squared Euclidean distance of the L2-normalised vectors). Reported overall and
per triplet type (one-, two- and three-class triplets).
"""

_KWARGS_DESCRIPTION = """
Args:
    embeddings_1, embeddings_2, embeddings_3 (`list` of `list` of `float`): the expression vectors of the
        three faces of each triplet, shape (N, D) each.
    references (`list` of `int`): 0-based index (0, 1, 2) of the odd face (FEC's annotation 1/2/3 minus one).
    triplet_type (`list` of `str`): ONE_CLASS_TRIPLET / TWO_CLASS_TRIPLET / THREE_CLASS_TRIPLET
        (or one_class / two_class / three_class, or the ids 0 / 1 / 2 of the FEC dataset's ClassLabel).
    normalize (`bool`, defaults to True): L2-normalise the vectors before measuring distances.
Returns:
    accuracy, num_triplets, and accuracy_<type> / num_<type> for one_class, two_class, three_class
    (accuracy NaN for a type with no triplet).
Examples:
    >>> from hf_deepfever import evaluate_modules
    >>> metric = evaluate_modules.load("triplet_accuracy")
    >>> metric.compute(embeddings_1=[[1.0, 0.0]], embeddings_2=[[0.9, 0.1]], embeddings_3=[[0.0, 1.0]],
    ...                references=[2], triplet_type=["ONE_CLASS_TRIPLET"])["accuracy"]
    1.0
"""

_CITATION = """
@inproceedings{vemulapalli2019compact,
  title={A Compact Embedding for Facial Expression Similarity},
  author={Vemulapalli, Raviteja and Agarwala, Aseem},
  booktitle={IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages={5683--5692}, year={2019}
}
"""


class TripletAccuracy(documented_metric.DocumentedMetric):
    """FEC triplet accuracy computed by :func:`hf_deepfever.metrics.triplet_accuracy`."""

    DESCRIPTION, ARGUMENTS, CITATION = _DESCRIPTION, _KWARGS_DESCRIPTION, _CITATION

    def _features(self) -> list[datasets.Features]:
        vector = datasets.Sequence(datasets.Value("float32"))

        def features(triplet_type_dtype: str) -> datasets.Features:
            return datasets.Features(
                {
                    "embeddings_1": vector,
                    "embeddings_2": vector,
                    "embeddings_3": vector,
                    "references": datasets.Value("int64"),
                    "triplet_type": datasets.Value(triplet_type_dtype),
                }
            )

        # Triplet types as FEC's strings or as the dataset's ClassLabel ids; the first batch picks one.
        return [features("string"), features("int64")]

    def _compute(self, embeddings_1, embeddings_2, embeddings_3, references, triplet_type, normalize: bool = True):
        return triplet_accuracy(
            embeddings_1, embeddings_2, embeddings_3, references, triplet_type, normalize=normalize
        )
