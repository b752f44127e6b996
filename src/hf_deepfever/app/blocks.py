"""The Gradio page: a Photo tab (faces, expressions, valence/arousal, nearest expressions) and a Video tab.

``build_app`` returns ``gradio.Blocks``; ``launch_app`` serves it offline. A Space runs the same code (see
``hf_deepfever/app/space_app.py``).
"""

from __future__ import annotations

from typing import Any

from .offline import import_gradio
from .service import ExpressionApp, with_av_model
from .views import FACE_TABLE_HEADERS

INTRO = """# DeepFEVER: facial expressions
Upload a **photo**: every face is boxed, with its expression probabilities and its valence/arousal on the
circumplex{index_line}. Upload a **video**: valence and arousal over time, with the CSV to download{video_line}.
Everything runs on this machine; nothing is sent anywhere.
"""


def build_app(
    model: Any,
    index: Any = None,
    *,
    av_model: str | None = None,
    detector: str = "auto",
    title: str = "DeepFEVER facial expressions",
) -> Any:
    """The app as ``gradio.Blocks``.

    Args:
        model: a saved DeepFEVER image model (expression heads give labels and valence/arousal) or DeepFEVER-AV model
            (its visual stream for photos, vectors only; video traces), as a folder or Hub id, or an ``ExpressionApp``.
        index: an expression index folder (``deepfever index``) of vectors made by ``model``, or ``None``.
        av_model: a DeepFEVER-AV model for the video tab when ``model`` is an image model.
        detector: the face detector for photos.
    """
    gr = import_gradio()
    service = model if isinstance(model, ExpressionApp) else with_av_model(ExpressionApp(model, index, detector=detector), av_model)
    intro = INTRO.format(
        index_line=f", and the nearest expressions among {len(service.index)} indexed faces" if service.index else "",
        video_line="" if service.supports_video else " (needs a DeepFEVER-AV model: this one reads photos only)",
    )

    def on_photo(path: str | None):
        view = service.photo(path)
        return view.status, view.image, view.table, view.scores, view.circumplex, view.neighbours

    def on_video(path: str | None):
        view = service.video(path)
        return view.status, view.plot, view.csv

    with gr.Blocks(title=title, analytics_enabled=False) as blocks:
        gr.Markdown(intro)
        with gr.Tab("Photo"):
            with gr.Row():
                with gr.Column(scale=1):
                    photo = gr.File(label="Photo", file_types=["image"], type="filepath", elem_id="photo-input")
                    photo_status = gr.Markdown("Upload a photo to see the faces in it.", elem_id="photo-status")
                    scores = gr.Label(label="Expression of the largest face", num_top_classes=8, elem_id="photo-scores")
                with gr.Column(scale=2):
                    boxed = gr.Image(label="Faces", type="pil", interactive=False, elem_id="photo-faces")
            with gr.Row():
                table = gr.Dataframe(headers=FACE_TABLE_HEADERS, label="Faces", interactive=False, elem_id="photo-table")
                circumplex = gr.Plot(label="Valence / arousal", elem_id="photo-circumplex")
            gallery = gr.Gallery(label="Nearest expressions in the index", columns=6, rows=1, height=240,
                                 visible=service.index is not None, elem_id="photo-neighbours")
            photo.change(on_photo, inputs=photo, outputs=[photo_status, boxed, table, scores, circumplex, gallery])
        with gr.Tab("Video"):
            video = gr.File(label="Video", file_types=["video"], type="filepath", elem_id="video-input")
            video_status = gr.Markdown(
                "Upload a video to see its valence and arousal over time." if service.supports_video
                else "Video traces need a DeepFEVER-AV model; this model reads photos only.",
                elem_id="video-status",
            )
            trace = gr.Image(label="Valence and arousal over time", type="filepath", interactive=False, elem_id="video-trace")
            trace_csv = gr.File(label="Traces (CSV)", interactive=False, elem_id="video-csv")
            video.change(on_video, inputs=video, outputs=[video_status, trace, trace_csv])
    blocks.deepfever_service = service  # for tests and embedding
    return blocks


def launch_app(blocks: Any, *, host: str | None = None, port: int | None = None, **launch_options: Any) -> Any:
    """Serve the app offline (no share link, no analytics, no server-side rendering); blocks until stopped
    unless ``prevent_thread_lock=True``. ``host``/``port`` None: Gradio's defaults and environment
    (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``, as on a Space)."""
    import_gradio()
    options = {"share": False, "ssr_mode": False, "max_file_size": "200mb", "footer_links": ["gradio"], **launch_options}
    return blocks.launch(server_name=host, server_port=port, allowed_paths=[str(blocks.deepfever_service.work_dir)], **options)


__all__ = ["build_app", "launch_app"]
