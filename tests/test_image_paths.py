"""One image path: the CLI, a PIL image handed to the processor and the pipelines give one vector for one photo
(EXIF applied); training and evaluation decode corpus images with the same opener (stored pixels, landmarks for
alignment); `--skip-bad` skips unreadable files only; normalisation follows the pretrained backbone."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import PIL.Image
import pytest
import torch
from transformers import AutoImageProcessor, AutoModel, pipeline

from hf_deepfever import DeepFeverImageProcessor
from hf_deepfever.core.images import ImageFileError, open_image
from hf_deepfever.inference.extraction import ImagePreprocessingError, ImageFileDataset, iter_extraction

PORTRAIT = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def sideways_portrait(tmp_path_factory) -> Path:
    """The portrait as a phone stores it: pixels turned, EXIF orientation 6 to show it upright."""
    path = tmp_path_factory.mktemp("photos") / "portrait.jpg"
    exif = PIL.Image.Exif()
    exif[0x0112] = 6
    PIL.Image.open(PORTRAIT).transpose(PIL.Image.Transpose.ROTATE_90).save(path, exif=exif.tobytes(), quality=95)
    return path


def _vector(model, processor, image) -> np.ndarray:
    with torch.no_grad():
        return model(**processor(image, return_tensors="pt")).pooler_output[0].numpy()


def test_cli_pil_and_pipeline_agree_on_an_exif_rotated_photo(tiny_model_dir, sideways_portrait, tmp_path):
    from hf_deepfever.cli import main

    output = tmp_path / "vectors.parquet"
    assert main(["extract", str(sideways_portrait), "--model", tiny_model_dir, "--output", str(output),
                 "--num-workers", "0"]) == 0  # fmt: skip
    import pandas as pd

    cli = np.asarray(pd.read_parquet(output)["vector"][0])
    model = AutoModel.from_pretrained(tiny_model_dir).eval()
    processor = AutoImageProcessor.from_pretrained(tiny_model_dir)
    with PIL.Image.open(sideways_portrait) as photo:
        from_pil = _vector(model, processor, photo)  # a PIL image still carrying its tag
    extract = pipeline("image-feature-extraction", model=tiny_model_dir, pool=True)
    from_pipeline = np.asarray(extract(str(sideways_portrait)))  # transformers' own loader: exif_transpose
    np.testing.assert_allclose(cli, from_pil, atol=1e-5)
    np.testing.assert_allclose(from_pipeline.reshape(-1), from_pil, atol=1e-5)
    stored = _vector(model, processor, open_image(sideways_portrait, exif=False))
    assert np.abs(stored - from_pil).max() > 1e-3  # the sideways pixels are another picture


class _FailingProcessor:
    """A processor with a bug: it raises on every image (picklable, for DataLoader workers)."""

    def __init__(self, error: type[Exception]) -> None:
        self.error = error

    def __call__(self, image, **kwargs):
        raise self.error("processor bug")


@pytest.mark.parametrize("error", [ValueError, ZeroDivisionError])
@pytest.mark.parametrize("workers", [0, 1])
def test_skip_bad_never_hides_a_processor_failure(tmp_path, error, workers):
    path = tmp_path / "good.png"
    PIL.Image.new("RGB", (8, 8)).save(path)
    model = torch.nn.Linear(1, 1)
    message = rf"good.png: cannot preprocess the image \({error.__name__}: processor bug\)"
    with pytest.raises(ImagePreprocessingError, match=message):
        list(iter_extraction(model, _FailingProcessor(error), [path], num_workers=workers, skip_bad=True, device="cpu"))


def test_skip_bad_skips_unreadable_files(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    index, pixels, unreadable, failed = ImageFileDataset([tmp_path / "broken.png"], DeepFeverImageProcessor())[0]
    assert pixels is None and failed is None and "not an image file" in unreadable
    with pytest.raises(ImageFileError, match="broken.png"):
        list(iter_extraction(torch.nn.Linear(1, 1), DeepFeverImageProcessor(), [tmp_path / "broken.png"], device="cpu"))


def _sideways_rows(tmp_path: Path, count: int = 2):
    """A datasets Image column of EXIF-rotated files (as a corpus could hold them) and their stored pixels."""
    from datasets import Dataset, Image

    paths, stored = [], []
    for index in range(count):
        upright = PIL.Image.fromarray(np.random.default_rng(index).integers(0, 256, (40, 56, 3), dtype=np.uint8))
        exif = PIL.Image.Exif()
        exif[0x0112] = 8
        path = tmp_path / f"face_{index}.png"
        upright.transpose(PIL.Image.Transpose.ROTATE_270).save(path, exif=exif.tobytes())
        paths.append(str(path))
        stored.append(np.asarray(upright.transpose(PIL.Image.Transpose.ROTATE_270)))
    return Dataset.from_dict({"image": paths}).cast_column("image", Image()), stored


def test_training_rows_use_the_stored_pixels(tmp_path):
    from hf_deepfever.training.data import whole_image_rows
    from hf_deepfever.training.inputs import FaceRowTransform

    dataset, stored = _sideways_rows(tmp_path)
    processor = DeepFeverImageProcessor(size={"height": 32, "width": 32})
    batch = whole_image_rows(dataset).with_transform(FaceRowTransform(processor, augment=False, seed=0))[:2]
    expected = processor(stored, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(batch["pixel_values"], expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("embedded", [False, True])
def test_evaluation_decodes_with_the_same_opener(tmp_path, tiny_config, embedded):
    from datasets import Dataset, Features, Image

    from hf_deepfever import DeepFeverModel
    from hf_deepfever.training.prediction import predict_images

    dataset, stored = _sideways_rows(tmp_path)
    if embedded:  # an Image column holding the files' bytes, as a dataset from the Hub does
        files = [value["path"] for value in dataset.cast_column("image", Image(decode=False))["image"]]
        values = [{"bytes": Path(path).read_bytes(), "path": None} for path in files]
        dataset = Dataset.from_dict({"image": values}, features=Features({"image": Image()}))
    torch.manual_seed(0)
    model = DeepFeverModel(tiny_config).eval()
    processor = DeepFeverImageProcessor(size={"height": 64, "width": 64})
    vectors = predict_images(model, processor, dataset, batch_size=2).vectors
    with torch.no_grad():
        expected = model(**processor(stored, return_tensors="pt")).pooler_output.numpy()
    np.testing.assert_allclose(vectors, expected, atol=1e-5)


@pytest.fixture(scope="module")
def synthetic_affectnet(tmp_path_factory) -> Path:
    import warnings

    from hf_deepfever.synthetic import make_demo_corpus

    root = tmp_path_factory.mktemp("demo_corpus")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_demo_corpus(root, seed=0, size="tiny", workers=1)
    return root / "affectnet"


def test_affectnet_training_rows_carry_landmarks_that_align_the_crops(synthetic_affectnet):
    import warnings

    from hf_deepfever.data import load_affectnet
    from hf_deepfever.training.data import affectnet_face_rows
    from hf_deepfever.training.inputs import FaceRowTransform

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = load_affectnet(synthetic_affectnet)["train"]
    rows = affectnet_face_rows(split)
    assert rows.features["landmarks"].feature.dtype == "float32"
    table = rows[:4]
    assert all(len(points) == 136 for points in table["landmarks"])
    aligning = DeepFeverImageProcessor(size={"height": 32, "width": 32}, align_faces=True)
    batch = rows.with_transform(FaceRowTransform(aligning, augment=False, seed=0))[:4]
    images = [open_image(path, exif=False) for path in table["path"]]
    expected = aligning(images, face_boxes=table["face_box"], face_landmarks=table["landmarks"], return_tensors="pt")
    torch.testing.assert_close(batch["pixel_values"], expected["pixel_values"], atol=1e-4, rtol=1e-4)
    unaligned = aligning(images, face_boxes=table["face_box"], align_faces=False, return_tensors="pt")["pixel_values"]
    assert not torch.allclose(batch["pixel_values"], unaligned, atol=1e-2)  # the synthetic faces are rolled


def test_landmarks_without_an_eye_line_are_dropped_and_counted(tmp_path, caplog):
    from training_corpora import write_affectnet

    from hf_deepfever.data import load_affectnet
    from hf_deepfever.training.data import affectnet_face_rows

    write_affectnet(tmp_path / "affectnet")  # every row's landmarks are 136 x 10.0: both eyes at one point
    with caplog.at_level("WARNING"):
        rows = affectnet_face_rows(load_affectnet(tmp_path / "affectnet")["train"])
    assert rows["landmarks"] == [None] * len(rows)
    assert f"{len(rows)} AffectNet rows have landmarks without an eye line" in caplog.text


def test_pretrained_backbones_bring_their_own_normalisation(tmp_path):
    from hf_deepfever.training.arguments import ModelArguments
    from hf_deepfever.training.components import build_processor

    pretrained = build_processor(ModelArguments(backbone="test_resnet", backbone_pretrained=True, image_size=32))
    assert pretrained.image_mean == (0.5, 0.5, 0.5) and pretrained.image_std == (0.5, 0.5, 0.5)  # timm's cfg
    scratch = build_processor(ModelArguments(backbone="test_resnet", backbone_pretrained=False, image_size=32))
    assert tuple(scratch.image_mean) == tuple(DeepFeverImageProcessor.image_mean)  # ImageNet statistics
    imagenet = build_processor(ModelArguments(backbone="test_efficientnet", backbone_pretrained=True, image_size=32))
    assert imagenet.image_std == pytest.approx((0.229, 0.224, 0.225))
    pretrained.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["image_mean"] == [0.5, 0.5, 0.5] and saved["image_std"] == [0.5, 0.5, 0.5]


def test_align_faces_flag_reaches_the_saved_processor(tmp_path):
    """``--align_faces`` (default on) and ``--no_align_faces`` become the processor's ``align_faces``, which the
    saved model's inference uses."""
    from hf_deepfever.training.arguments import ModelArguments, parse_arguments
    from hf_deepfever.training.components import build_processor

    (default,) = parse_arguments((ModelArguments,), ["--backbone", "test_resnet"])
    (disabled,) = parse_arguments((ModelArguments,), ["--backbone", "test_resnet", "--no_align_faces"])
    assert default.align_faces is True and disabled.align_faces is False
    build_processor(disabled).save_pretrained(tmp_path)
    assert DeepFeverImageProcessor.from_pretrained(tmp_path).align_faces is False
    assert build_processor(default).align_faces is True
