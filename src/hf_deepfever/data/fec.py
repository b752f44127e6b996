"""Reader for the Google Facial Expression Comparison (FEC) corpus.

FEC ships no images: each CSV row names three image URLs, which the user fetches with
``training_scripts/download_fec.py``. Both the downloader and :func:`load_fec` derive the local file
name from the URL with :func:`fec_image_filename`, so the two always agree.
"""

from __future__ import annotations

import hashlib
import posixpath
import urllib.parse

# Extensions kept from the URL; anything else (or none) becomes ".jpg", FEC's dominant format.
_KNOWN_IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp"})


def fec_image_filename(url: str) -> str:
    """Local file name for the FEC image at ``url``.

    The name is the SHA-1 hex digest of the URL (stripped of surrounding whitespace and double
    quotes, as the CSV quotes it) followed by the URL path's extension when it is a known image
    extension, else ``.jpg``. It is deterministic, safe on every filesystem (40 hex characters and
    a short lowercase extension) and, being a cryptographic hash of the full URL, distinct for
    distinct URLs in practice.

    Example: ``fec_image_filename("http://farm1.staticflickr.com/1/2_3.jpg")`` ->
    ``"<40 hex digits>.jpg"``.
    """
    cleaned = url.strip().strip('"').strip()
    digest = hashlib.sha1(cleaned.encode("utf-8")).hexdigest()
    extension = posixpath.splitext(urllib.parse.urlsplit(cleaned).path)[1].lower()
    if extension not in _KNOWN_IMAGE_EXTENSIONS:
        extension = ".jpg"
    return digest + extension
