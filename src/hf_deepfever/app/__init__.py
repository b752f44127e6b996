"""The DeepFEVER web app (Gradio, the ``[app]`` extra): ``deepfever app`` locally, or a Hugging Face Space.

- :func:`build_app` (``blocks.py``): the page as ``gradio.Blocks`` for a model (and an optional index).
- :func:`launch_app`: serve it offline.
- :class:`ExpressionApp` (``service.py``): the work behind the page, without Gradio.
- ``space_app.py``: the ``app.py`` of a Space (copy it, set ``DEEPFEVER_MODEL``).

Names are imported on first use: importing this package does not import Gradio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy_exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__, {".blocks": ("build_app", "launch_app"), ".service": ("ExpressionApp", "PhotoView", "VideoView")}
)


if TYPE_CHECKING:  # pragma: no cover
    from .blocks import build_app, launch_app
    from .service import ExpressionApp, PhotoView, VideoView
