"""The model card templates (Jinja2 markdown), one per ``model_type``: ``deepfever.md``, ``deepfever-av.md``.

This folder is the package ``hf_deepfever.hub_cards`` (pyproject.toml maps it with ``package-dir``), so the
templates ship in the wheel and ``hf_deepfever.hub.cards`` finds them with ``importlib.resources``, in an
installed package and in an editable checkout alike. Edit the templates here; there is no other copy.
"""
