"""Download the FEC images (the corpus lists only URLs) into the folder ``load_fec`` reads.

    python training_scripts/download_fec.py --fec_dir data/fec --num_workers 32

Parallel and resumable: run it again to continue, or to retry URLs that failed for now. Images are
saved as ``<fec_dir>/images/<fec_image_filename(url)>``; dead URLs are listed in
``fec_dead_urls.tsv`` and counted in the final summary. ``--help`` lists every option.
"""

from __future__ import annotations

from hf_deepfever.data.fec_download import main

if __name__ == "__main__":
    main()
