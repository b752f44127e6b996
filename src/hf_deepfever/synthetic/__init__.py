"""The SYNTHETIC demo corpus: procedurally drawn faces and voices written in the publishers' own layouts of
AffectNet, FEC, RAF-DB and RECOLA, so the loaders, the demo and the tests run without the licensed corpora.

This is a writer, not a corpus reader: nothing in :mod:`hf_deepfever.data` imports it.

- :mod:`.layouts`        the one writer of each publisher's layout (names, headers, columns, separators),
                         used by the parts below and by the test and benchmark fixtures
- :mod:`.face_renderer`  draws a face with a given expression, valence and arousal
- :mod:`.faces`          face-drawing jobs run in worker processes
- :mod:`.image_corpora`  the AffectNet, FEC, RAF-DB and unlabelled-faces parts
- :mod:`.recola`         talking-face videos, voices and gold-standard ratings (RECOLA part)
- :mod:`.corpus`         :func:`make_demo_corpus`: all parts, the marker file, regeneration rules
"""

from __future__ import annotations

from typing import Any


def make_demo_corpus(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See :func:`hf_deepfever.synthetic.corpus.make_demo_corpus`."""
    from .corpus import make_demo_corpus as make

    return make(*args, **kwargs)


__all__ = ["make_demo_corpus"]
