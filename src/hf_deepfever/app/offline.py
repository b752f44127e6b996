"""Gradio without the network: no analytics or update checks, no telemetry, nothing fetched from a CDN.

Gradio reads ``GRADIO_ANALYTICS_ENABLED`` when it is imported, so :func:`import_gradio` sets the switches
first (without overriding a value the user set). Gradio 6's default theme serves its fonts from the
installed package, and the app uses no external JavaScript or CSS; the browser test checks that the page
asks nothing of any address but the app's own.
"""

from __future__ import annotations

import os
from typing import Any

OFFLINE_ENVIRONMENT = {
    "GRADIO_ANALYTICS_ENABLED": "False",  # usage analytics and the version check on launch
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_SSR_MODE": "False",  # server-side rendering needs Node and is not wanted offline
}


def import_gradio() -> Any:
    """gradio, imported with the offline switches set, or an ImportError that says how to install it."""
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    try:
        import gradio
    except ImportError as error:
        raise ImportError(
            f"the web app needs Gradio, which cannot be imported ({error}); install it with: pip install 'hf_deepfever[app]'"
        ) from error
    return gradio


__all__ = ["OFFLINE_ENVIRONMENT", "import_gradio"]
