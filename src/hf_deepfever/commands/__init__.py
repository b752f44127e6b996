"""Sub-commands of the ``deepfever`` CLI, one module each (see ``hf_deepfever.cli``)."""
