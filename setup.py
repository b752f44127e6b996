"""Where the packages come from; everything else about the distribution is in pyproject.toml.

The model card templates keep their one copy in the top-level ``hub_cards/`` folder and ship as the
package ``hf_deepfever.hub_cards`` through a ``package_dir`` mapping. pyproject.toml's ``packages.find``
cannot add a mapped folder, and a hand-written package list there goes stale whenever a sub-package is
added, so the list is found here: every package under ``src/`` (folders without ``__init__.py``
included, as ``packages.find`` did) plus the mapped templates.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages("src", include=["hf_deepfever", "hf_deepfever.*"]), "hf_deepfever.hub_cards"],
    package_dir={"": "src", "hf_deepfever.hub_cards": "hub_cards"},
)
