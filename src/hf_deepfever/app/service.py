"""The app's work, without Gradio: a photo or a video file in, everything the page shows out.

Errors a user can cause (an unreadable file, a photo without a face, a video for a model that cannot read
videos) come back as a message in ``status``, never as a traceback.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.images import ImageFileError
from ..core.face_front_end import VisualModel, analyse_photo, load_visual_model
from . import views

NEIGHBOURS_PER_FACE = 6


@dataclass
class PhotoView:
    status: str
    image: Any = None  # PIL image with the faces boxed
    table: list[list[Any]] = field(default_factory=list)
    scores: dict[str, float] | None = None  # the largest face's expression probabilities
    circumplex: Any = None  # matplotlib figure
    neighbours: list[tuple[Any, str]] = field(default_factory=list)  # (face crop, caption) for a gallery


@dataclass
class VideoView:
    status: str
    plot: str | None = None  # PNG of the traces
    csv: str | None = None  # the traces as CSV


class ExpressionApp:
    """A loaded model (and optional index) answering the app's photo and video requests.

    Args:
        model: a saved DeepFEVER image model or DeepFEVER-AV model (folder or Hub id), or a loaded ``VisualModel``.
        index: an index folder or a loaded ``ExpressionIndex`` of vectors made by the same model.
        detector: the face detector for photos (``"auto"``, ``"haar"``, ``"dlib"``, ``"yunet:PATH"``).
        work_dir: where video results are written (default: a fresh temporary folder).
    """

    def __init__(self, model: str | VisualModel, index: Any = None, *, detector: str = "auto", work_dir: str | None = None) -> None:
        from ..search.identity import model_fingerprint

        self.visual = model if isinstance(model, VisualModel) else load_visual_model(str(model))
        self.index = None
        if index is not None:
            from ..search.index import ExpressionIndex

            self.index = index if isinstance(index, ExpressionIndex) else ExpressionIndex.load(index)
            self.identity = model_fingerprint(self.visual.name)
            self.index.model.check_same(self.identity, what=f"vectors of {self.visual.name}")
        self.detector = detector
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="deepfever_app_"))
        self._lock = threading.Lock()  # one model call at a time (Gradio runs requests in threads)
        self._video_runs = 0

    @property
    def supports_video(self) -> bool:
        return self.visual.full_model is not None

    @property
    def id2label(self) -> dict[int, str]:
        return {int(k): v for k, v in getattr(self.visual.model.config, "id2label", {}).items()}

    # ---------------------------------------------------------------------------------------------- photo

    def photo(self, path: str | None) -> PhotoView:
        if not path:
            return PhotoView("Upload a photo to see the faces in it.")
        try:
            with self._lock:
                analysis = analyse_photo(path, self.visual.model, self.visual.processor, detector=self.detector)
        except ImageFileError as error:
            return PhotoView(f"**Cannot read this file as an image:** {error.reason}.")
        except ImportError as error:
            return PhotoView(f"**No face detector is available:** {error}")
        name = Path(path).name
        if not analysis.faces:
            return PhotoView(
                f"**No face found in {name}.** The detector looks for frontal faces at least 40 pixels wide; "
                "try a photo where the face is larger, frontal and well lit.",
                image=views.boxed_image(analysis.image, []),
            )
        faces = analysis.faces
        count = f"{len(faces)} face" + ("s" if len(faces) != 1 else "")
        if faces[0].label is None:
            status = f"**{count} found.** This model has no expression heads: it gives expression vectors only."
        else:
            summary = ", ".join(f"{n}: {face.label} ({face.probabilities.max():.0%})" for n, face in enumerate(faces, start=1))
            status = f"**{count} found** — {summary}."
        view = PhotoView(
            status,
            image=views.boxed_image(analysis.image, faces),
            table=views.face_table(faces),
            scores=views.expression_scores(faces[0], self.id2label),
            circumplex=views.circumplex_figure(faces) if faces[0].valence is not None else None,
        )
        if self.index is not None:
            view.neighbours = self._neighbours(faces)
            view.status += f" Nearest expressions from an index of {len(self.index)} faces below."
        return view

    def _neighbours(self, faces: list[Any]) -> list[tuple[Any, str]]:
        import numpy as np

        from ..search.contact_sheet import face_tile
        from ..core.face_front_end import upright_photo

        result = self.index.search(np.stack([face.vector for face in faces]), NEIGHBOURS_PER_FACE, model=self.identity)
        items = []
        for number in range(len(faces)):
            for neighbour in result.neighbours(number):
                try:
                    tile = face_tile(upright_photo(neighbour.path), neighbour.face_box)
                except (ImageFileError, OSError, ValueError):
                    continue  # an indexed image that is gone: its caption alone would mislead
                items.append((tile, views.neighbour_caption(number + 1, neighbour)))
        return items

    # ---------------------------------------------------------------------------------------------- video

    def video(self, path: str | None) -> VideoView:
        if not path:
            return VideoView("Upload a video to see its valence and arousal over time.")
        if not self.supports_video:
            return VideoView(
                "**This model reads photos only.** Valence/arousal traces of a video need a DeepFEVER-AV model "
                "(`deepfever app --model <DeepFEVER-AV folder>`, or `--av-model`)."
            )
        from ..video.trace_files import write_csv, write_plot
        from ..video.faces import FaceLocator
        from ..video.trace import predict_trace

        try:
            with self._lock:
                trace = predict_trace(self.visual.full_model, self.visual.full_processor, path, face_locator=FaceLocator("auto"))
        except (FileNotFoundError, ValueError) as error:
            return VideoView(f"**Cannot read this file as a video:** {error}")
        if len(trace.time) == 0:
            return VideoView("**This file holds no frames or audio to predict from.**")
        self._video_runs += 1
        stem = f"{Path(path).stem[:40]}_{self._video_runs}"
        csv, plot = self.work_dir / f"{stem}_valence_arousal.csv", self.work_dir / f"{stem}_valence_arousal.png"
        write_csv(trace, csv)
        write_plot(trace, plot, title=f"{Path(path).name}: arousal and valence")
        notes = " ".join(trace.notes)
        status = (f"**{len(trace.time)} steps ({trace.time[-1]:.1f} s)**, a face in {int(trace.face_found.sum())}, "
                  f"audio in {int(trace.audio_present.sum())}. {notes}")
        return VideoView(status.strip(), plot=str(plot), csv=str(csv))


def with_av_model(app: ExpressionApp, av_model: str | None) -> ExpressionApp:
    """Give an image-model app DeepFEVER-AV video traces from a second model (``deepfever app --av-model``)."""
    if av_model:
        visual = load_visual_model(av_model)
        if visual.full_model is None:
            raise ValueError(f"--av-model {av_model} is not a DeepFEVER-AV model")
        app.visual.full_model, app.visual.full_processor = visual.full_model, visual.full_processor
    return app


__all__ = ["ExpressionApp", "PhotoView", "VideoView", "with_av_model"]
