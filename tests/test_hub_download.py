"""The download path: an upload folder installed into a Hub-layout cache loads offline by repo id.

Once with the package imported (no flag needed), once in a process that cannot import hf_deepfever
(remote code, `trust_remote_code=True`): DeepFEVER's model, processor and both pipelines, and
DeepFEVER-AV's model and processor.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import constants
from PIL import Image
from remote_code import run_without_package

from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor
from hf_deepfever.models.deepfever.configuration_deepfever_av import DeepFeverAVConfig
from hf_deepfever.models.deepfever.feature_extraction_deepfever_av import DeepFeverAudioFeatureExtractor
from hf_deepfever.hub import assemble_upload_folder, install_to_hub_cache
from hf_deepfever.models.deepfever.modeling_deepfever_av import DeepFeverAVModel
from hf_deepfever.models.deepfever.processing_deepfever_av import DeepFeverAVProcessor


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("tiny_deepfever")
    torch.manual_seed(0)
    model = DeepFeverForExpressionRecognition(DeepFeverConfig(backbone="test_resnet", image_size=64)).eval()
    model.save_pretrained(model_dir)
    DeepFeverImageProcessor(size={"height": 64, "width": 64}).save_pretrained(model_dir)
    results = {"dataset_kind": "synthetic-demo", "affectnet_accuracy_8": 0.5}
    (model_dir / "eval_results.json").write_text(json.dumps(results))
    return model_dir


@pytest.fixture(scope="module")
def upload_folder(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("upload") / "org-deepfever"
    assemble_upload_folder(tiny_model_dir, folder, repo_id="org/deepfever")
    return folder


@pytest.fixture(scope="module")
def tiny_av_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model_dir = tmp_path_factory.mktemp("tiny_deepfever_av")
    torch.manual_seed(0)
    vision = DeepFeverConfig(backbone="test_resnet", image_size=32, embedding_dim=16)
    config = DeepFeverAVConfig(
        vision_config=vision, num_mel_bins=16, audio_context_frames=8, audio_channels=[4, 8],
        audio_embedding_dim=8, visual_projection_dim=8, fusion_dim=16, hidden_size=8, num_layers=1,
    )
    DeepFeverAVModel(config).eval().save_pretrained(model_dir)
    DeepFeverAVProcessor(
        DeepFeverImageProcessor(size={"height": 32, "width": 32}),
        DeepFeverAudioFeatureExtractor(feature_size=16, context_ms=80),
    ).save_pretrained(model_dir)
    return model_dir


@pytest.fixture(scope="module")
def av_upload_folder(tiny_av_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("upload_av") / "org-deepfever-av"
    assemble_upload_folder(tiny_av_model_dir, folder, repo_id="org/deepfever-av")
    return folder


@pytest.fixture(scope="module")
def face_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faces") / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (72, 60, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Half a second of audio (16 kHz) and 13 frames, saved as .npy so a subprocess can read them."""
    folder = tmp_path_factory.mktemp("clip")
    rng = np.random.default_rng(1)
    np.save(folder / "audio.npy", rng.standard_normal(8000).astype(np.float32))
    np.save(folder / "frames.npy", rng.integers(0, 256, (13, 40, 40, 3), dtype=np.uint8))
    return folder / "audio.npy", folder / "frames.npy"


def _av_reference(model_dir: Path, clip: tuple[Path, Path]) -> torch.Tensor:
    """The AV prediction of the original (not installed) folder, loaded directly by class."""
    model = DeepFeverAVModel.from_pretrained(model_dir).eval()
    processor = DeepFeverAVProcessor.from_pretrained(model_dir)
    audio, frames = np.load(clip[0]), np.load(clip[1])
    with torch.no_grad():
        return model(**processor(audio=audio, images=list(frames), sampling_rate=16000)).valence_arousal[0]


def test_install_writes_hub_layout_with_content_commit(tiny_model_dir: Path, tmp_path: Path) -> None:
    snapshot = install_to_hub_cache(tiny_model_dir, "org/layout-check", cache_dir=tmp_path)
    repo_root = tmp_path / "models--org--layout-check"
    commit = (repo_root / "refs" / "main").read_text()
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    assert snapshot == repo_root / "snapshots" / commit
    expected = sorted(p.name for p in tiny_model_dir.iterdir())
    assert sorted(p.name for p in snapshot.iterdir()) == expected
    assert (snapshot / "model.safetensors").read_bytes() == (tiny_model_dir / "model.safetensors").read_bytes()

    # Same content, same commit (idempotent); changed content, new commit, and only its ref moves.
    assert install_to_hub_cache(tiny_model_dir, "org/layout-check", cache_dir=tmp_path) == snapshot
    changed = tmp_path / "changed"
    changed.mkdir()
    for path in tiny_model_dir.iterdir():
        (changed / path.name).write_bytes(path.read_bytes())
    (changed / "extra.txt").write_text("one more file")
    new_snapshot = install_to_hub_cache(changed, "org/layout-check", cache_dir=tmp_path, revision="v2")
    assert new_snapshot != snapshot
    assert (repo_root / "refs" / "v2").read_text() == new_snapshot.name
    assert (repo_root / "refs" / "main").read_text() == commit


def test_install_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        install_to_hub_cache(tmp_path / "missing", "org/x", cache_dir=tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no files"):
        install_to_hub_cache(empty, "org/x", cache_dir=tmp_path)
    with pytest.raises(ValueError):
        install_to_hub_cache(tmp_path, "not a repo id", cache_dir=tmp_path)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="revision"):
        install_to_hub_cache(tmp_path, "org/x", cache_dir=tmp_path / "cache", revision="../escape")


def test_upload_folder_loads_offline_with_package(tiny_model_dir: Path, upload_folder: Path, face_image: Path) -> None:
    from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification, pipeline

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    install_to_hub_cache(upload_folder, "org/deepfever")
    assert Path(constants.HF_HUB_CACHE, "models--org--deepfever", "refs", "main").is_file()

    reference = DeepFeverForExpressionRecognition.from_pretrained(tiny_model_dir).eval()
    classifier = AutoModelForImageClassification.from_pretrained("org/deepfever").eval()
    extractor = AutoModel.from_pretrained("org/deepfever").eval()
    processor = AutoImageProcessor.from_pretrained("org/deepfever")
    assert type(processor).__name__ == "DeepFeverImageProcessor"
    images = torch.randint(0, 256, (2, 3, 80, 96), dtype=torch.uint8)
    pixel_values = processor(list(images), face_boxes=[(10, 5, 50, 60), None], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected = reference(pixel_values)
        torch.testing.assert_close(classifier(pixel_values).logits, expected.logits)
        torch.testing.assert_close(extractor(pixel_values).pooler_output, expected.pooler_output)

    vectors = pipeline("image-feature-extraction", model="org/deepfever", pool=True)(str(face_image))
    face_inputs = processor(Image.open(face_image), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected_vector = reference(face_inputs).pooler_output[0]
    torch.testing.assert_close(torch.tensor(vectors).reshape(-1), expected_vector, atol=1e-5, rtol=1e-4)
    predictions = pipeline("image-classification", model="org/deepfever", top_k=8)(str(face_image))
    assert {p["label"] for p in predictions} == set(reference.config.id2label.values())
    assert abs(sum(p["score"] for p in predictions) - 1.0) < 1e-4


def test_av_upload_folder_loads_offline_with_package(
    tiny_av_model_dir: Path, av_upload_folder: Path, clip: tuple[Path, Path]
) -> None:
    from transformers import AutoModel, AutoProcessor

    install_to_hub_cache(av_upload_folder, "org/deepfever-av")
    model = AutoModel.from_pretrained("org/deepfever-av").eval()
    processor = AutoProcessor.from_pretrained("org/deepfever-av")
    assert isinstance(model, DeepFeverAVModel) and isinstance(processor, DeepFeverAVProcessor)
    audio, frames = np.load(clip[0]), np.load(clip[1])
    with torch.no_grad():
        prediction = model(**processor(audio=audio, images=list(frames), sampling_rate=16000)).valence_arousal[0]
    torch.testing.assert_close(prediction, _av_reference(tiny_av_model_dir, clip))

    # The card's snippet runs as written, given the variables it documents.
    card = (av_upload_folder / "README.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)
    namespace = {"waveform": audio, "rate": 16000, "frames": list(frames), "boxes": [(2, 2, 30, 30)] * 12 + [None]}
    exec(compile(snippet, "<card snippet>", "exec"), namespace)
    assert namespace["arousal"].shape == namespace["valence"].shape == (prediction.shape[0],)
    assert namespace["inputs"]["face_mask"][0].tolist() == [True] * 12 + [False]


_WITHOUT_PACKAGE = """
import json
import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification, AutoProcessor, pipeline

model = AutoModel.from_pretrained("org/deepfever", trust_remote_code=True).eval()
classifier = AutoModelForImageClassification.from_pretrained("org/deepfever", trust_remote_code=True).eval()
processor = AutoImageProcessor.from_pretrained("org/deepfever", trust_remote_code=True)
inputs = processor(Image.open(FACE), face_boxes=[(5, 5, 40, 50)], return_tensors="pt")
with torch.no_grad():
    vector = model(**inputs).pooler_output[0].tolist()
    logits = classifier(**inputs).logits[0].tolist()
piped = pipeline("image-feature-extraction", model="org/deepfever", pool=True, trust_remote_code=True)(FACE)
labels = pipeline("image-classification", model="org/deepfever", trust_remote_code=True, top_k=8)(FACE)

av_model = AutoModel.from_pretrained("org/deepfever-av", trust_remote_code=True).eval()
av_processor = AutoProcessor.from_pretrained("org/deepfever-av", trust_remote_code=True)
audio, frames = np.load(AUDIO), np.load(FRAMES)
with torch.no_grad():
    av = av_model(**av_processor(audio=audio, images=list(frames), sampling_rate=16000)).valence_arousal[0]
print("RESULT " + json.dumps({
    "model_class": type(model).__module__, "vector": vector, "logits": logits,
    "piped": torch.tensor(piped).reshape(-1).tolist(), "labels": sorted(p["label"] for p in labels),
    "av_classes": [type(av_model).__module__, type(av_processor).__name__], "av": av.tolist(),
}))
"""


def test_upload_folders_load_offline_without_package(
    tiny_model_dir: Path,
    upload_folder: Path,
    tiny_av_model_dir: Path,
    av_upload_folder: Path,
    face_image: Path,
    clip: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    # One subprocess for both models: starting Python with torch and transformers is the slow part.
    hf_home = tmp_path / "hf_home"
    install_to_hub_cache(upload_folder, "org/deepfever", cache_dir=hf_home / "hub")
    install_to_hub_cache(av_upload_folder, "org/deepfever-av", cache_dir=hf_home / "hub")
    header = f"FACE, AUDIO, FRAMES = {str(face_image)!r}, {str(clip[0])!r}, {str(clip[1])!r}\n"
    result = run_without_package(header + _WITHOUT_PACKAGE, str(hf_home))
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    outcome = json.loads(line[len("RESULT ") :])
    # Loaded from the cached remote code, not from the (blocked) package.
    assert outcome["model_class"].startswith("transformers_modules.")
    assert outcome["av_classes"][0].startswith("transformers_modules.")
    assert outcome["av_classes"][1] == "DeepFeverAVProcessor"

    reference = DeepFeverForExpressionRecognition.from_pretrained(tiny_model_dir).eval()
    processor = DeepFeverImageProcessor.from_pretrained(tiny_model_dir)
    image = Image.open(face_image)
    with torch.no_grad():
        boxed = reference(processor(image, face_boxes=[(5, 5, 40, 50)], return_tensors="pt")["pixel_values"])
        whole = reference(processor(image, return_tensors="pt")["pixel_values"])
    torch.testing.assert_close(torch.tensor(outcome["vector"]), boxed.pooler_output[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.tensor(outcome["logits"]), boxed.logits[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.tensor(outcome["piped"]), whole.pooler_output[0], atol=1e-5, rtol=1e-4)
    assert outcome["labels"] == sorted(reference.config.id2label.values())
    expected_av = _av_reference(tiny_av_model_dir, clip)
    torch.testing.assert_close(torch.tensor(outcome["av"]), expected_av, atol=1e-5, rtol=1e-4)


def test_card_snippets_run_against_the_installed_repo(
    upload_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every Python snippet of the published card runs as written (face.jpg in the working directory)."""
    install_to_hub_cache(upload_folder, "org/deepfever")
    card = (upload_folder / "README.md").read_text()
    snippets = re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)
    assert len(snippets) == 3, "usage with the package, with remote code, and the pipelines"
    pixels = np.random.default_rng(2).integers(0, 256, (220, 200, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "face.jpg")
    monkeypatch.chdir(tmp_path)
    namespaces: list[dict] = []
    for snippet in snippets:
        namespaces.append({})
        exec(compile(snippet, "<card snippet>", "exec"), namespaces[-1])
    first = namespaces[0]
    assert first["vector"].shape == (1, 64) and first["expression"] in first["classifier"].config.id2label.values()
    assert -1.0 <= first["valence"] <= 1.0 and -1.0 <= first["arousal"] <= 1.0
