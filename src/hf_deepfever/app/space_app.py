"""The ``app.py`` of a Hugging Face Space running the DeepFEVER app: copy this file into the Space as ``app.py``.

The Space also needs a ``requirements.txt`` with the line ``hf_deepfever[app]`` (and ``opencv-python-headless<5``
for the Haar face detector, which the ``[face]`` extra brings). Set the Space's variables:

- ``DEEPFEVER_MODEL``: the model's Hub id (a DeepFEVER expression model, or DeepFEVER-AV for the video tab);
- ``DEEPFEVER_INDEX`` (optional): an index folder in the Space's files, built with ``deepfever index``;
- ``DEEPFEVER_AV_MODEL`` (optional): a DeepFEVER-AV Hub id for the video tab of an image model.

Run locally with ``DEEPFEVER_MODEL=path/to/model python space_app.py`` (or ``deepfever app --model ...``).
"""

import os

from hf_deepfever.app import build_app, launch_app

demo = build_app(
    os.environ.get("DEEPFEVER_MODEL", "your-name/deepfever-expression"),
    index=os.environ.get("DEEPFEVER_INDEX") or None,
    av_model=os.environ.get("DEEPFEVER_AV_MODEL") or None,
)

if __name__ == "__main__":
    launch_app(demo)  # a Space sets GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
