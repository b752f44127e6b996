"""Model cards: a Jinja2 template from ``hub_cards/`` + the model's config + its measured ``eval_results.json``.

The templates are package data (``hf_deepfever.hub_cards``, the repository's top-level ``hub_cards/``
folder) and are read with ``importlib.resources``, so an installed wheel renders cards without a checkout.

The template holds the static metadata (library, pipeline tag, tags, licence) and the prose. This module
adds what must come from the checkpoint itself: ``model-index`` and the results table, built ONLY from
``eval_results.json`` (absent metric: left out; synthetic demo results: labelled so), and ``base_model``
(the timm weights the backbone started from, when the config says it did). The rendered card is parsed
back with ``huggingface_hub.ModelCard`` and its model-index parser before it is returned.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import yaml
from huggingface_hub import ModelCard, ModelCardData
from huggingface_hub.repocard_data import model_index_to_eval_results
from huggingface_hub.utils import validate_repo_id

from .. import __version__
from ..core.eval_results import read_eval_results
from ..core.vocabulary import EVAL_RESULTS_NAME, TRAINING_ARGS_NAME
from .members import UploadFolderError, member_path, members_named, read_member_text
from .redaction import redact_local_paths
from .results import MeasuredResults, measured_results

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

TEMPLATES_PACKAGE = "hf_deepfever.hub_cards"
DEFAULT_TEMPLATES = {"deepfever": "deepfever.md", "deepfever-av": "deepfever-av.md"}
# Keys computed here; a template must not set them by hand.
COMPUTED_METADATA_KEYS = ("model-index", "model_name", "eval_results", "base_model")


def default_template(model_type: str) -> Traversable:
    """The card template that ships with the package (``hf_deepfever.hub_cards``) for `model_type`."""
    if model_type not in DEFAULT_TEMPLATES:
        raise ValueError(f"no model card template for model_type {model_type!r}; known: {sorted(DEFAULT_TEMPLATES)}")
    path = resources.files(TEMPLATES_PACKAGE) / DEFAULT_TEMPLATES[model_type]
    if not path.is_file():
        raise FileNotFoundError(
            f"model card template {path} not found: the hf_deepfever installation lacks its {TEMPLATES_PACKAGE} "
            "package data (reinstall it), or pass template=PATH to render_model_card"
        )
    return path


def read_json_object(path: Path, error_class: type[ValueError] = ValueError) -> dict[str, Any]:
    """The JSON object in ``path`` (a regular file of at most ``members.TEXT_MAX_BYTES``); anything else is an
    ``error_class`` naming the file."""
    try:
        text = read_member_text(path)
    except UploadFolderError as error:  # not a regular file, or too large
        raise error_class(str(error)) from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise error_class(f"{path} is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise error_class(f"{path} must hold a JSON object, found a {type(data).__name__}")
    return data


def published_record(record: dict[str, Any], model_dir: Path) -> dict[str, Any]:
    """A run's record (``training_args.json``, ``eval_results.json``) as it may be published.

    The card shows it and the upload folder carries it: the absolute paths a run recorded (its data,
    caches and outputs on the machine that trained it) become folder names (see `hub.redaction`).
    """
    return redact_local_paths(record, private_roots=[model_dir])


def read_published_record(
    model_dir: Path, name: str, error_class: type[ValueError] = ValueError
) -> dict[str, Any] | None:
    """`published_record` of the JSON object in ``model_dir / name``; None when the file is absent."""
    path = member_path(model_dir, name)
    if path is None:
        return None
    return published_record(read_json_object(path, error_class), model_dir)


def _num_parameters(model_dir: Path) -> int | None:
    """Parameter count read from the safetensors headers (no weights are loaded); None without weights.

    Only the folder's own weights are read (`hub.members`: a link leaving the folder is refused).
    """
    from safetensors import safe_open

    files = [model_dir / name for name in members_named(model_dir, suffix=".safetensors")]
    if not files:
        return None
    total = 0
    for path in files:
        with safe_open(str(path), framework="numpy") as handle:
            for name in handle.keys():
                shape = handle.get_slice(name).get_shape()
                count = 1
                for size in shape:
                    count *= size
                total += count
    return total


def _format_count(count: int | None) -> str:
    if count is None:
        return "unknown (no weights in the folder)"
    return f"{count / 1e6:.2f} M" if count >= 1e5 else f"{count:,}"


def timm_base_model(backbone: str | None, pretrained: bool) -> str | None:
    """The Hub id of the timm weights a backbone started from (``timm/<arch>.<tag>``), when it started from any."""
    if not backbone or not pretrained:
        return None
    from timm.models import get_pretrained_cfg

    config = get_pretrained_cfg(backbone)
    return getattr(config, "hf_hub_id", None) or None


def _vision_config(config: dict[str, Any]) -> dict[str, Any]:
    """The visual extractor's config: the config itself, or the one nested in an audio-visual config."""
    nested = config.get("vision_config")
    return nested if isinstance(nested, dict) else config


def _split_front_matter(text: str, template: Path | Traversable) -> tuple[dict[str, Any], str]:
    lines = text.lstrip("\n").split("\n")
    if not lines or lines[0].strip() != "---":
        raise ValueError(f"model card template {template} must start with a '---' YAML metadata block")
    try:
        end = next(index for index in range(1, len(lines)) if lines[index].strip() == "---")
    except StopIteration:
        raise ValueError(f"model card template {template}: the YAML metadata block is not closed by '---'") from None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"model card template {template}: metadata is not valid YAML after rendering: {error}")
    if not isinstance(meta, dict):
        raise ValueError(f"model card template {template}: metadata must be a YAML mapping")
    clashing = [key for key in COMPUTED_METADATA_KEYS if key in meta]
    if clashing:
        raise ValueError(f"model card template {template} sets {clashing}; these come from the checkpoint")
    body = "\n".join(lines[end + 1 :]).strip("\n") + "\n"
    # Template conditionals leave runs of blank lines behind; markdown needs at most one.
    return meta, re.sub(r"\n{3,}", "\n\n", body)


def _processor_settings(model_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(image processor settings, audio feature extractor settings) from the saved processor files.

    A visual model has ``preprocessor_config.json``; a combined processor saves ``processor_config.json``
    with each part nested under its attribute name.
    """
    image_settings: dict[str, Any] = {}
    audio_settings: dict[str, Any] = {}
    for name in ("preprocessor_config.json", "processor_config.json"):
        path = member_path(model_dir, name)
        if path is None:
            continue
        loaded = read_json_object(path)
        parts = [loaded] + [value for value in loaded.values() if isinstance(value, dict)]
        for part in parts:
            if not image_settings and "image_processor_type" in part:
                image_settings = part
            if not audio_settings and "feature_extractor_type" in part:
                audio_settings = part
    return image_settings, audio_settings


def _format_number(value: Any, missing: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return missing


def _template_context(
    model_dir: Path, config: dict[str, Any], measured: MeasuredResults, repo_id: str, base_model: str | None
) -> dict[str, Any]:
    vision = _vision_config(config)
    processor, feature_extractor = _processor_settings(model_dir)
    size = processor.get("size") or {}
    image_size = size.get("height") or vision.get("image_size")
    training_args = read_published_record(model_dir, TRAINING_ARGS_NAME)
    id2label = vision.get("id2label") or {}
    labels = [id2label[key] for key in sorted(id2label, key=int)] if id2label else []
    return {
        "model_name": repo_id.split("/")[-1],
        "repo_id": repo_id,
        "config": config,
        "vision_config": vision,
        "labels": labels,
        "image_size": image_size,
        "crop_margin": processor.get("crop_margin", "(see preprocessor_config.json)"),
        "image_mean": processor.get("image_mean", "(see preprocessor_config.json)"),
        "image_std": processor.get("image_std", "(see preprocessor_config.json)"),
        "processor": processor,
        "feature_extractor": feature_extractor,
        "step_ms": _format_number(feature_extractor.get("step_ms"), "?"),
        "num_parameters": _format_count(_num_parameters(model_dir)),
        "base_model": base_model,
        "results": measured.results,
        "unrecognised": measured.unrecognised,
        "synthetic": measured.synthetic,
        "dataset_kind": measured.dataset_kind,
        "training_args": training_args,
        "training_args_json": json.dumps(training_args, indent=2, sort_keys=True) if training_args else "",
        "package_version": __version__,
    }


def _template_text(template: Path | Traversable) -> str:
    """A card template's text: a package resource, or a user's file (regular, of bounded size)."""
    if isinstance(template, Path):
        return read_member_text(template)
    return template.read_text(encoding="utf-8")


def render_model_card(
    model_dir: str | os.PathLike,
    template: str | os.PathLike | None = None,
    *,
    repo_id: str | None = None,
    base_model: str | None = None,
) -> str:
    """Render the README.md model card of a saved DeepFEVER / DeepFEVER-AV model folder.

    Args:
        model_dir: folder with ``config.json`` (and normally the weights, the processor config and
            ``eval_results.json``; ``training_args.json`` is shown when present).
        template: a Jinja2 card template; default: the package's ``hub_cards/<model_type>.md``.
        repo_id: the Hub id used in the usage snippets; default ``your-org/<folder name>``.
        base_model: the ``base_model`` metadata (a Hub id, e.g. the DeepFEVER repo an AV model builds
            on); default for DeepFEVER: the timm weights the backbone started from, when its config says
            ``backbone_pretrained``; none for DeepFEVER-AV.

    Returns:
        The card text (YAML metadata + markdown). Results come only from ``eval_results.json``.
    """
    model_dir = Path(model_dir)
    config_path = member_path(model_dir, "config.json") if model_dir.is_dir() else None
    if config_path is None:
        raise FileNotFoundError(f"{model_dir / 'config.json'} not found: render_model_card needs a saved model folder")
    config = read_json_object(config_path)
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        raise ValueError(f"{config_path} has no model_type")
    template_path: Path | Traversable = Path(template) if template is not None else default_template(model_type)
    if not template_path.is_file():
        raise FileNotFoundError(f"model card template {template_path} not found")

    results_path = member_path(model_dir, EVAL_RESULTS_NAME)
    recorded_results = published_record(read_eval_results(results_path), model_dir) if results_path else {}
    measured = measured_results(recorded_results, model_type)
    if repo_id is None:
        repo_id = f"your-org/{model_dir.resolve().name}"
    if base_model is not None:
        validate_repo_id(base_model)
    elif model_type == "deepfever":
        # An AV model's base is a DeepFEVER repo, which only the caller knows; timm's weights are not it.
        base_model = timm_base_model(config.get("backbone"), bool(config.get("backbone_pretrained")))

    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
    )
    try:
        rendered = environment.from_string(_template_text(template_path)).render(
            **_template_context(model_dir, config, measured, repo_id, base_model)
        )
    except jinja2.TemplateError as error:
        raise ValueError(f"model card template {template_path} failed to render: {error}") from error
    meta, body = _split_front_matter(rendered, template_path)

    eval_results = [result.to_eval_result() for result in measured.results if result.spec.in_model_index]
    card_data = ModelCardData(
        base_model=base_model,
        model_name=repo_id.split("/")[-1] if eval_results else None,
        eval_results=eval_results or None,
        **meta,
    )
    card = ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n{body}")
    _check_round_trip(card, len(eval_results))
    return str(card)


def _check_round_trip(card: ModelCard, expected_results: int) -> None:
    """Parse the card back as the Hub would; a card whose results do not survive is an error, not a warning."""
    reparsed = ModelCard(str(card))
    model_index = reparsed.data.to_dict().get("model-index")
    parsed = model_index_to_eval_results(model_index)[1] if model_index else []
    if len(parsed) != expected_results:
        raise ValueError(f"rendered card lost results: {expected_results} written, {len(parsed)} parsed back")
