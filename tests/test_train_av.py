"""train_av on the tiny generated RECOLA corpus: outputs, eval_results, visual cache reuse, resume, reload."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from hf_deepfever.data import load_recola
from hf_deepfever.synthetic import make_demo_corpus
from hf_deepfever.models.deepfever.feature_extraction_deepfever_av import DeepFeverAudioFeatureExtractor
from hf_deepfever.training.av_data import RecordingChunks, recordings_from_split

SCRIPT = Path(__file__).resolve().parents[1] / "training_scripts" / "train_av.py"
TINY_MODEL = [
    "--vision_backbone", "test_resnet", "--vision_image_size", "32", "--num_mel_bins", "16", "--context_ms", "200",
    "--audio_channels", "4,8", "--hidden_size", "8", "--fusion_dim", "16", "--chunk_steps", "16",
    "--per_device_train_batch_size", "1", "--learning_rate", "3e-3", "--warmup_steps", "0", "--face_detector", "centre",
]


@pytest.fixture(scope="module")
def recola_dir(tmp_path_factory) -> Path:
    return Path(make_demo_corpus(tmp_path_factory.mktemp("demo"), size="tiny")["root"]) / "recola"


def _script():
    spec = importlib.util.spec_from_file_location("train_av_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chunks_follow_the_label_grid(recola_dir):
    extractor = DeepFeverAudioFeatureExtractor(feature_size=16, context_ms=200)
    split = load_recola(recola_dir)["train"]
    (recording,) = recordings_from_split(split, extractor)
    row = split[0]
    info = soundfile.info(row["audio"])
    assert recording.num_steps == extractor.num_steps(info.frames, info.samplerate)
    # Gold labels land on their step: label k (time k * 40 ms) is step k.
    labelled = min(len(row["time"]), recording.num_steps)
    # Label columns follow the one order of the package: (valence, arousal).
    assert np.allclose(recording.labels[:labelled, 0].numpy(), np.asarray(row["valence"])[:labelled], atol=1e-6)
    assert np.allclose(recording.labels[:labelled, 1].numpy(), np.asarray(row["arousal"])[:labelled], atol=1e-6)
    recording.visual, recording.face_mask = torch.randn(recording.num_steps, 4), torch.ones(recording.num_steps, dtype=torch.bool)
    chunks = RecordingChunks([recording], extractor, chunk_steps=16)
    assert len(chunks) == -(-recording.num_steps // 16)
    last = chunks[len(chunks) - 1]
    real = recording.num_steps - 16 * (len(chunks) - 1)
    assert last["attention_mask"].tolist() == [1] * real + [0] * (16 - real)
    assert torch.isnan(last["labels"][real:]).all() and not last["face_mask"][real:].any()
    assert torch.equal(chunks[1]["visual_features"], recording.visual[16:32])


def test_train_resume_and_reload(recola_dir, tmp_path):
    output, cache = tmp_path / "av", tmp_path / "visual_cache"
    common = ["--recola_dir", str(recola_dir), "--output_dir", str(output), "--visual_cache_dir", str(cache), *TINY_MODEL]
    script = _script()
    first = script.main([*common, "--max_steps", "4", "--checkpointing_steps", "2", "--eval_steps", "2"])
    for key in ("recola_dev_arousal_ccc", "recola_dev_valence_ccc", "recola_dev_train_mean_arousal_ccc", "recola_dev_train_mean_valence_ccc"):
        assert np.isfinite(first[key]) and -1 <= first[key] <= 1
    # A constant prediction has no concordance: the baseline any model must beat.
    assert first["recola_dev_train_mean_arousal_ccc"] == 0.0
    saved = json.loads((output / "eval_results.json").read_text())
    assert saved["dataset_kind"] == "synthetic-demo" and saved["recola_dev_valence_ccc"] == pytest.approx(first["recola_dev_valence_ccc"])
    for name in ("config.json", "model.safetensors", "processor_config.json", "modeling_deepfever_av.py", "training_args.json"):
        assert (output / name).is_file(), name
    assert (output / "checkpoints" / "checkpoint-4").is_dir()
    assert len(list(cache.glob("*/*.safetensors"))) == 2  # train_1 and dev_1, computed once

    # Resume to step 6 from the latest checkpoint; the cached visual vectors are reused, not recomputed.
    mtimes = {path: path.stat().st_mtime_ns for path in cache.glob("*/*.safetensors")}
    script.main([*common, "--max_steps", "6", "--checkpointing_steps", "2", "--eval_steps", "0", "--resume_from_checkpoint", "latest"])
    assert {path: path.stat().st_mtime_ns for path in cache.glob("*/*.safetensors")} == mtimes
    log = [json.loads(line) for line in (output / "training_log.jsonl").read_text().splitlines()]
    assert max(entry["step"] for entry in log) == 6
    assert (output / "checkpoints" / "checkpoint-6").is_dir()

    from transformers import AutoModel, AutoProcessor

    model, processor = AutoModel.from_pretrained(output).eval(), AutoProcessor.from_pretrained(output)
    split = load_recola(recola_dir)["dev"][0]
    audio, rate = soundfile.read(split["audio"], dtype="float32")
    with torch.no_grad():
        prediction = model(**processor(audio=audio, sampling_rate=rate)).valence_arousal
    assert prediction.shape[-1] == 2 and torch.isfinite(prediction).all()


def test_missing_recola_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="--recola_dir"):
        _script().main(["--output_dir", str(tmp_path / "out")])


def test_demo_stage_runs_quick(recola_dir, tmp_path):
    from hf_deepfever.demo.av_stage import demo_stage_arguments, run_demo_stage

    argv = demo_stage_arguments(recola_dir, tmp_path / "av", quick=True)
    assert argv[argv.index("--visual_cache_dir") + 1].startswith(str(tmp_path / "av"))  # nothing written elsewhere
    results = run_demo_stage(recola_dir, tmp_path / "av", quick=True)
    assert isinstance(results["beats_baseline"], bool)
    assert (tmp_path / "av" / "eval_results.json").is_file() and (tmp_path / "av" / "visual_cache").is_dir()


def test_demo_stage_is_deterministic_and_reports_its_references(recola_dir, tmp_path):
    """One seed, one answer: two runs of the demo's AV stage (each computing its own visual cache and training both
    the fused model and the audio-only reference) give bit-identical figures; another seed gives others."""
    from hf_deepfever.demo.av_stage import run_demo_stage

    first, second = (run_demo_stage(recola_dir, tmp_path / name, quick=True, seed=3) for name in ("one", "two"))
    saved = [json.loads((tmp_path / name / "eval_results.json").read_text()) for name in ("one", "two")]
    assert saved[0] == saved[1] and first == second
    for stream in ("", "audio_only_", "train_mean_"):
        for dimension in ("valence", "arousal", "mean"):
            assert np.isfinite(saved[0][f"recola_dev_{stream}{dimension}_ccc"]), (stream, dimension)
    # No trained --vision_model here (an untrained extractor has no head): no visual-only reference is claimed.
    assert not any(key.startswith("recola_dev_visual_only_") for key in saved[0])
    assert set(first["recola_dev_fusion_beats_each_stream"]) == {"valence", "arousal", "mean"}
    other = run_demo_stage(recola_dir, tmp_path / "other", quick=True, seed=4)
    assert other["recola_dev_valence_ccc"] != first["recola_dev_valence_ccc"]


def test_modality_dropout_hides_one_stream_per_dropped_chunk():
    from hf_deepfever.training.av import AVTask

    batch = {"attention_mask": torch.ones(64, 5, dtype=torch.long), "face_mask": torch.ones(64, 5, dtype=torch.bool)}
    assert AVTask(None)._drop_modalities(batch) is batch  # off by default
    torch.manual_seed(0)
    dropped = AVTask(None, modality_dropout=1.0)._drop_modalities(batch)
    face, audio = dropped["face_mask"].all(1), dropped["audio_mask"].all(1)
    assert bool((face ^ audio).all())  # every chunk keeps exactly one stream, whole
    assert 16 < int(face.sum()) < 48  # the face and the voice are dropped about as often
    assert batch["face_mask"].all()  # the caller's batch is left as it was
    with pytest.raises(ValueError, match="modality_dropout"):
        AVTask(None, modality_dropout=1.5)
