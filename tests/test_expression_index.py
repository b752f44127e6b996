"""The expression index: exact cosine search, approximate kinds, the checked folder format, the model check,
the one vectors-table reader (today's extract output and the sharded folder), FEC triplets, and the CLI."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("faiss", reason="the expression index needs the [search] extra (faiss-cpu)")

from hf_deepfever.search import (  # noqa: E402
    MODEL_METADATA_KEY,
    ExpressionIndex,
    ModelIdentity,
    ModelMismatchError,
    model_fingerprint,
    read_vectors,
)
from hf_deepfever.search import index as index_module  # noqa: E402

MODEL = ModelIdentity("test:model-a", "model-a")
OTHER = ModelIdentity("test:model-b", "model-b")


def unit(count: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def clustered(count: int, dim: int = 16, clusters: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    return (centres[rng.integers(0, clusters, count)] + 0.3 * rng.standard_normal((count, dim))).astype(np.float32)


def paths(count: int) -> list[str]:
    return [f"photos/{i:04d}.jpg" for i in range(count)]


# ---------------------------------------------------------------------------------------------- search


def test_exact_search_is_cosine_distance_nearest_first():
    vectors = unit(300) * np.random.default_rng(1).uniform(0.5, 3, (300, 1)).astype(np.float32)  # any norm
    queries = unit(5, seed=2)
    index = ExpressionIndex.build(vectors, paths(300), model=MODEL)
    assert index.kind == "exact"
    result = index.search(queries, k=7, model=MODEL)
    normalised = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = queries @ normalised.T
    expected = np.argsort(-cosine, axis=1)[:, :7]
    np.testing.assert_array_equal(result.rows, expected)
    np.testing.assert_allclose(result.distances, 1 - np.take_along_axis(cosine, expected, axis=1), atol=1e-5)
    assert (np.diff(result.distances, axis=1) >= 0).all()
    first = result.neighbours(0)[0]
    assert first.path == f"photos/{expected[0, 0]:04d}.jpg" and first.face_box is None and first.rank == 0


def test_k_larger_than_the_index_and_excluded_rows():
    index = ExpressionIndex.build(unit(4), paths(4), model=MODEL)
    result = index.search(unit(4)[:2], k=10, model=MODEL)
    assert result.rows.shape == (2, 4)
    assert sorted(result.rows[0]) == [0, 1, 2, 3]
    excluded = index.search(unit(4)[:2], k=10, model=MODEL, exclude_rows=[0, None])
    assert 0 not in excluded.rows[0] and excluded.rows[0].tolist().count(-1) == 1
    assert excluded.rows[1, 0] == 1  # the second query is row 1 itself, not excluded
    assert len(excluded.neighbours(0)) == 3


def test_queries_of_another_model_or_shape_are_refused():
    index = ExpressionIndex.build(unit(20), paths(20), model=MODEL)
    with pytest.raises(ModelMismatchError, match="model-b .*built with model-a"):
        index.search(unit(1), model=OTHER)
    with pytest.raises(ValueError, match="length 8"):
        index.search(unit(1, dim=8), model=MODEL)
    with pytest.raises(ValueError, match="all zeros"):
        index.search(np.zeros((1, 16)), model=MODEL)
    with pytest.raises(ValueError, match="k must be"):
        index.search(unit(1), k=0, model=MODEL)
    with pytest.raises(ValueError, match="makes vectors of length 32"):
        ExpressionIndex.build(unit(5), paths(5), model=ModelIdentity("x", "x", 32))


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_kinds_find_the_exact_neighbours_of_clustered_vectors(kind):
    vectors, queries = clustered(3000), clustered(50, seed=5)
    exact = ExpressionIndex.build(vectors, paths(3000), model=MODEL, kind="exact").search(queries, k=10, model=MODEL)
    approximate = ExpressionIndex.build(vectors, paths(3000), model=MODEL, kind=kind)
    assert approximate.kind == kind
    found = approximate.search(queries, k=10, model=MODEL)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.rows, exact.rows)])
    assert recall >= 0.9, recall
    # A broader search is at least as good: all lists / a wide graph search is exact here.
    broad = approximate.search(queries, k=10, model=MODEL, probes=approximate.params.get("lists"), ef_search=1000)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(broad.rows, exact.rows)]) >= max(recall, 0.99)


def test_auto_kind_turns_approximate_at_the_size_threshold(monkeypatch):
    assert index_module.resolve_kind("auto", index_module.AUTO_APPROXIMATE_FROM - 1) == "exact"
    assert index_module.resolve_kind("auto", index_module.AUTO_APPROXIMATE_FROM) == "ivf"
    monkeypatch.setattr(index_module, "AUTO_APPROXIMATE_FROM", 100)
    assert ExpressionIndex.build(unit(100), paths(100), model=MODEL).kind == "ivf"
    assert ExpressionIndex.build(unit(99), paths(99), model=MODEL).kind == "exact"
    with pytest.raises(ValueError, match="index kind"):
        ExpressionIndex.build(unit(5), paths(5), model=MODEL, kind="lsh")


# ---------------------------------------------------------------------------------------------- files


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_save_and_load_give_the_same_results_with_boxes_and_columns(tmp_path, kind):
    vectors = clustered(400)
    boxes = np.tile([10.0, 20.0, 30.0, 40.0], (400, 1))
    boxes[::3] = np.nan  # whole images
    index = ExpressionIndex.build(
        vectors, paths(400), model=MODEL, kind=kind, face_boxes=boxes, columns={"expression": ["happy", "sad"] * 200}
    )
    index.save(tmp_path / "faces.index")
    loaded = ExpressionIndex.load(tmp_path / "faces.index")
    assert (loaded.kind, len(loaded), loaded.dim, loaded.model) == (kind, 400, 16, ModelIdentity("test:model-a", "model-a", 16))
    queries = clustered(10, seed=3)
    before, after = index.search(queries, k=5, model=MODEL), loaded.search(queries, k=5, model=MODEL)
    np.testing.assert_array_equal(before.rows, after.rows)
    np.testing.assert_allclose(before.distances, after.distances, atol=1e-6)
    np.testing.assert_allclose(loaded.vectors(), vectors / np.linalg.norm(vectors, axis=1, keepdims=True), atol=1e-6)
    row0, row1 = loaded.neighbour(0), loaded.neighbour(1)
    assert row0.face_box is None and row1.face_box == (10.0, 20.0, 30.0, 40.0) and row1.info["expression"] == "sad"
    manifest = json.loads((tmp_path / "faces.index" / "index.json").read_text())
    assert manifest["metric"] == "cosine" and manifest["model"]["fingerprint"] == "test:model-a"
    assert sorted(os.listdir(tmp_path)) == ["faces.index"]  # no temporary folder left


def test_save_replaces_an_index_but_never_another_folder(tmp_path):
    target = tmp_path / "faces.index"
    ExpressionIndex.build(unit(10), paths(10), model=MODEL).save(target)
    ExpressionIndex.build(unit(20), paths(20), model=OTHER).save(target)
    assert len(ExpressionIndex.load(target)) == 20 and sorted(os.listdir(tmp_path)) == ["faces.index"]
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "me.jpg").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="not an expression index"):
        ExpressionIndex.build(unit(10), paths(10), model=MODEL).save(photos)
    assert (photos / "me.jpg").read_bytes() == b"precious"


def test_load_checks_every_file_before_parsing(tmp_path):
    folder = tmp_path / "faces.index"
    ExpressionIndex.build(unit(50), paths(50), model=MODEL).save(folder)
    pristine = tmp_path / "pristine"
    shutil.copytree(folder, pristine)

    def fresh() -> Path:
        shutil.rmtree(folder)
        shutil.copytree(pristine, folder)
        return folder

    data = bytearray((fresh() / "index.faiss").read_bytes())
    data[-3] ^= 0xFF
    (folder / "index.faiss").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="index.faiss: does not match index.json"):
        ExpressionIndex.load(folder)

    (fresh() / "rows.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="rows.parquet: missing"):
        ExpressionIndex.load(folder)

    outside = tmp_path / "outside.parquet"
    shutil.copyfile(pristine / "rows.parquet", outside)
    (fresh() / "rows.parquet").unlink()
    (folder / "rows.parquet").symlink_to(outside)
    with pytest.raises(ValueError, match="outside the index folder"):
        ExpressionIndex.load(folder)

    manifest = json.loads((fresh() / "index.json").read_text())
    for change, message in (
        ({"format_version": 99}, "format version 99"),
        ({"kind": "hnsw", "params": {"ef_search": 16}}, "holds a IndexFlatIP"),
        ({"count": 49}, "manifest says 49"),
        ({"format": "something else"}, "not an hf_deepfever expression index"),
    ):
        (folder / "index.json").write_text(json.dumps({**manifest, **change}))
        with pytest.raises(ValueError, match=message):
            ExpressionIndex.load(folder)
    (folder / "index.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ExpressionIndex.load(folder)
    with pytest.raises(FileNotFoundError, match="no index.json"):
        ExpressionIndex.load(tmp_path)


# ---------------------------------------------------------------------------------------------- fingerprints


def test_the_fingerprint_follows_weights_config_and_processor_not_the_writer(tmp_path, tiny_model_dir):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    original = model_fingerprint(tiny_model_dir)
    assert original.fingerprint.startswith("sha256:") and original.embedding_dim == 16
    config = json.loads((copy / "config.json").read_text())
    config["transformers_version"] = "0.0.1"  # who wrote it does not matter
    (copy / "config.json").write_text(json.dumps(config, indent=4))
    assert model_fingerprint(copy).fingerprint == original.fingerprint
    processor = json.loads((copy / "preprocessor_config.json").read_text())
    processor["crop_margin"] = 0.3  # a different crop gives different vectors
    (copy / "preprocessor_config.json").write_text(json.dumps(processor))
    assert model_fingerprint(copy).fingerprint != original.fingerprint
    shutil.copyfile(Path(tiny_model_dir) / "preprocessor_config.json", copy / "preprocessor_config.json")
    weights = bytearray((copy / "model.safetensors").read_bytes())
    weights[-1] ^= 0x01
    (copy / "model.safetensors").write_bytes(bytes(weights))
    assert model_fingerprint(copy).fingerprint != original.fingerprint
    (copy / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="safetensors only"):
        model_fingerprint(copy)


def test_a_hub_id_in_the_cache_has_its_folders_fingerprint(tmp_path, tiny_model_dir):
    from hf_deepfever.hub.cache import install_to_hub_cache

    install_to_hub_cache(tiny_model_dir, "org/fingerprint-check", cache_dir=tmp_path)
    cached = model_fingerprint("org/fingerprint-check", cache_dir=tmp_path)  # the tests run offline
    assert cached.fingerprint == model_fingerprint(tiny_model_dir).fingerprint and cached.name == "org/fingerprint-check"
    with pytest.raises(FileNotFoundError, match="neither a model folder nor a Hub model in the local cache"):
        model_fingerprint("org/not-cached", cache_dir=tmp_path)


# ---------------------------------------------------------------------------------------------- vectors tables


def _today_parquet(path: Path, vectors: np.ndarray, model: ModelIdentity | None = None) -> Path:
    """The table `deepfever extract --output x.parquet` writes (path, vector list column, expression columns)."""
    table = pa.table({
        "path": [f"photos/{i}.jpg" for i in range(len(vectors))],
        "expression": ["happy"] * len(vectors),
        "probability": np.full(len(vectors), 0.5, np.float32),
        "valence": np.zeros(len(vectors), np.float32),
        "arousal": np.zeros(len(vectors), np.float32),
        "vector": pa.array([v.tolist() for v in vectors], type=pa.list_(pa.float32())),
    })
    if model is not None:
        table = table.replace_schema_metadata({MODEL_METADATA_KEY: json.dumps(model.to_dict())})
    pq.write_table(table, path)
    return path


def test_reader_takes_todays_parquet_and_csv_alike(tmp_path):
    vectors = unit(6)
    parquet = read_vectors(_today_parquet(tmp_path / "v.parquet", vectors))
    csv_path = tmp_path / "v.csv"
    lines = ["path,expression,probability,valence,arousal," + ",".join(f"vector_{d}" for d in range(16))]
    lines += [f"photos/{i}.jpg,happy,0.5,0,0," + ",".join(repr(float(x)) for x in v) for i, v in enumerate(vectors)]
    csv_path.write_text("\n".join(lines) + "\n")
    csv = read_vectors(csv_path)
    for table in (parquet, csv):
        assert len(table) == 6 and table.dim == 16 and table.model is None and not table.has_faces
        np.testing.assert_allclose(table.vectors, vectors, atol=1e-6)
        assert table.rows["path"].to_pylist() == [f"photos/{i}.jpg" for i in range(6)]
        assert table.rows["expression"].to_pylist() == ["happy"] * 6
    assert parquet.rows.column_names == csv.rows.column_names


def test_reader_takes_a_folder_of_shards_with_faces_as_datasets_does(tmp_path):
    folder = tmp_path / "vectors"
    folder.mkdir()
    vectors = unit(7)
    rows = []
    for shard, chunk in enumerate((range(0, 4), range(4, 7))):
        table = pa.table({
            "path": [f"photos/{i // 2}.jpg" for i in chunk],
            "face_index": [i % 2 for i in chunk],
            "face_x": [10.0 * i for i in chunk], "face_y": [5.0] * len(chunk),
            "face_w": [50.0] * len(chunk), "face_h": [60.0] * len(chunk),
            "detection_score": [0.9] * len(chunk),
            "vector": pa.array([vectors[i].tolist() for i in chunk], type=pa.list_(pa.float32())),
        })
        # The model is recorded in every shard's metadata, which datasets' Parquet builder ignores.
        table = table.replace_schema_metadata({MODEL_METADATA_KEY: json.dumps(MODEL.to_dict())})
        pq.write_table(table, folder / f"part-{shard:05d}.parquet")
        rows.extend(chunk)
    (folder / ".part-00002.parquet.123.abcd.tmp").write_bytes(b"half written")  # a killed writer's leftover
    (folder / ".manifest.json").write_text(json.dumps({"rows": 7}))  # hidden: datasets skips it
    table = read_vectors(folder)
    assert len(table) == 7 and table.model == MODEL and table.has_faces
    np.testing.assert_allclose(table.vectors, vectors, atol=1e-7)
    np.testing.assert_allclose(table.face_boxes()[3], [30.0, 5.0, 50.0, 60.0])
    assert table.rows["face_index"].to_pylist() == [i % 2 for i in rows]

    from datasets import load_dataset

    # The announced format: the same folder loads with datasets' Parquet builder, the rows in the same order.
    dataset = load_dataset("parquet", data_dir=str(folder), split="train", cache_dir=str(tmp_path / "cache"))
    assert dataset["path"] == table.rows["path"].to_pylist()
    index = ExpressionIndex.from_table(table)
    assert index.model == ModelIdentity(MODEL.fingerprint, MODEL.name, 16)
    assert index.neighbour(3).face_box == (30.0, 5.0, 50.0, 60.0)


def test_a_manifest_lists_the_shards_and_records_the_model(tmp_path):
    folder = tmp_path / "vectors"
    folder.mkdir()
    for name, rows in (("b.parquet", range(0, 3)), ("a.parquet", range(3, 5))):
        pq.write_table(pa.table({"path": [f"{i}.jpg" for i in rows],
                                 "vector": pa.array([unit(5)[i].tolist() for i in rows], type=pa.list_(pa.float32()))}),
                       folder / name)
    (folder / "manifest.json").write_text(json.dumps({"model": MODEL.to_dict(), "shards": ["b.parquet", {"path": "a.parquet"}]}))
    table = read_vectors(folder)
    assert table.model == MODEL and table.rows["path"].to_pylist() == [f"{i}.jpg" for i in range(5)]
    pq.write_table(pa.table({"path": ["x.jpg"], "vector": pa.array([[1.0] * 16], type=pa.list_(pa.float32()))})
                   .replace_schema_metadata({MODEL_METADATA_KEY: json.dumps(OTHER.to_dict())}), folder / "a.parquet")
    with pytest.raises(ValueError, match="made by model-b"):
        read_vectors(folder)


def test_reader_skips_and_counts_bad_rows(tmp_path):
    vectors = unit(8).tolist()
    vectors[1] = None
    vectors[2] = [0.0] * 16
    vectors[3] = [float("nan")] + vectors[3][1:]
    vectors[4] = vectors[4][:8]
    table = pa.table({
        "path": ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", None, "g.jpg", "h.jpg"],
        "face_x": [1.0, 1, 1, 1, 1, 1, None, None], "face_y": [1.0, 1, 1, 1, 1, 1, 2, None],
        "face_w": [9.0] * 7 + [None], "face_h": [9.0] * 7 + [None],
        "vector": pa.array(vectors, type=pa.list_(pa.float32())),
    })
    pq.write_table(table, tmp_path / "v.parquet")
    read = read_vectors(tmp_path / "v.parquet")
    assert read.rows["path"].to_pylist() == ["a.jpg", "h.jpg"] and read.rows["source_row"].to_pylist() == [0, 7]
    assert read.face_boxes()[1].tolist() != read.face_boxes()[1].tolist()  # NaN: the whole image
    assert dict(read.skipped) == {
        "missing vector": 1, "all-zero vector": 1, "non-finite vector value": 1, "vector of another length": 1,
        "missing path": 1, "half-null face box": 1,
    }
    assert read.first_skipped[0] == (1, "missing vector")


def test_reader_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such vectors table"):
        read_vectors(tmp_path / "missing.parquet")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="must be a .parquet or .csv"):
        read_vectors(tmp_path / "notes.txt")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        read_vectors(tmp_path / "bad.parquet")
    pq.write_table(pa.table({"name": ["a"]}), tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="no 'path' column"):
        read_vectors(tmp_path / "other.parquet")
    (tmp_path / "gap.csv").write_text("path,vector_0,vector_2\na.jpg,1,2\n")
    with pytest.raises(ValueError, match="without gaps"):
        read_vectors(tmp_path / "gap.csv")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no .parquet shards"):
        read_vectors(empty)
    (empty / "manifest.json").write_text(json.dumps({"shards": ["../other.parquet"]}))
    with pytest.raises(ValueError, match="outside the folder"):
        read_vectors(empty)


def test_the_table_model_must_agree_with_a_stated_one(tmp_path):
    table = read_vectors(_today_parquet(tmp_path / "v.parquet", unit(5), model=MODEL))
    assert table.model == MODEL
    assert ExpressionIndex.from_table(table).model.fingerprint == MODEL.fingerprint
    with pytest.raises(ModelMismatchError, match="the vectors of .*v.parquet come from model-b"):
        ExpressionIndex.from_table(table, model=OTHER)
    anonymous = read_vectors(_today_parquet(tmp_path / "w.parquet", unit(5)))
    with pytest.raises(ValueError, match="does not record which model"):
        ExpressionIndex.from_table(anonymous)


# ---------------------------------------------------------------------------------------------- FEC triplets


def test_index_distances_give_exactly_the_fec_triplet_accuracy(tmp_path, tiny_model_dir):
    """On FEC-layout test triplets, deciding each triplet from the index's own distances is triplet_accuracy."""
    from hf_deepfever.core.loading import load_model_and_processor
    from hf_deepfever.core.vocabulary import TRIPLET_TYPE_NAMES
    from hf_deepfever.data import load_fec
    from hf_deepfever.metrics import triplet_accuracy
    from hf_deepfever.synthetic.faces import JobRunner
    from hf_deepfever.synthetic.image_corpora import write_fec
    from hf_deepfever.training.evaluation import evaluate_fec
    from hf_deepfever.training.prediction import predict_images

    root = tmp_path / "fec"
    with JobRunner(1) as runner:
        write_fec(root, seed=3, faces=56, train_triplets=3, test_triplets=40, dead_share=0.0, malformed_lines=0, runner=runner)
    test = load_fec(root, cache_dir=tmp_path / "cache")["test"]
    model, processor = load_model_and_processor(tiny_model_dir, kind="extractor")
    vectors = [
        predict_images(model, processor, test, image_column=f"image_{p}", box_column=f"box_{p}", box_format="ltrb_normalized").vectors
        for p in (1, 2, 3)
    ]
    odd, types = np.asarray(test["odd_one_out"]), np.asarray(test["triplet_type"], dtype=np.int64)
    expected = triplet_accuracy(*vectors, odd, types)
    assert evaluate_fec(model, processor, test)["fec_triplet_accuracy"] == expected["accuracy"]  # the same vectors

    count = len(test)
    stacked = np.concatenate(vectors)  # row p * count + t is face p of triplet t
    index = ExpressionIndex.build(stacked, [f"t{t}_face{p}" for p in range(3) for t in range(count)], model=MODEL)
    everything = index.search(stacked, k=len(index), model=MODEL)
    distance = np.empty((len(index), len(index)))
    for query in range(len(index)):
        distance[query, everything.rows[query]] = everything.distances[query]
    correct = []
    for t in range(count):
        faces = [p * count + t for p in range(3)]
        # The distance of the pair opposite each face, (d23, d13, d12), as triplet_accuracy orders them.
        opposite = np.array([distance[faces[1], faces[2]], distance[faces[0], faces[2]], distance[faces[0], faces[1]]])
        others = np.delete(opposite, odd[t])
        correct.append(bool(opposite[odd[t]] < others.min()))
    correct = np.array(correct)
    assert 0 < expected["accuracy"] < 1 or count < 10  # a real mix of right and wrong triplets
    assert correct.mean() == expected["accuracy"]
    for type_id, name in enumerate(TRIPLET_TYPE_NAMES):
        of_type = correct[types == type_id]
        assert (of_type.mean() if of_type.size else float("nan")) == pytest.approx(expected[f"accuracy_{name}"], nan_ok=True)


# ---------------------------------------------------------------------------------------------- CLI


def _cli(argv: list[str]) -> int:
    """`deepfever` with the index/similar commands registered (as cli.COMMANDS will)."""
    import sys

    from hf_deepfever.commands import extract, index, similar

    parser = argparse.ArgumentParser(prog="deepfever")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in (extract, index, similar):
        module.add_parser(subparsers)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, OSError) as error:
        print(f"deepfever {args.command}: error: {error}", file=sys.stderr)
        return 2


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    import matplotlib
    import PIL.Image

    folder = tmp_path_factory.mktemp("photos")
    portrait = PIL.Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    portrait.save(folder / "grace.jpg")
    for i in range(5):
        portrait.rotate(4 * i).resize((300 + 20 * i, 380)).save(folder / f"variant_{i}.jpg")
    return folder


def test_cli_index_and_similar_from_todays_extract(tmp_path, tiny_model_dir, photo_folder, capsys):
    import PIL.Image

    vectors = tmp_path / "vectors.parquet"
    assert _cli(["extract", str(photo_folder), "--model", tiny_model_dir, "--output", str(vectors), "--num-workers", "0"]) == 0
    # The Parquet table records its model (as a folder of shards does): the two commands chain with no flag.
    assert _cli(["index", str(vectors), "--output", str(tmp_path / "idx")]) == 0
    assert "indexed 6 vector(s) of length 16 (whole images)" in capsys.readouterr().out
    # A CSV table cannot hold the model: index asks for it.
    as_csv = tmp_path / "vectors.csv"
    assert _cli(["extract", str(photo_folder), "--model", tiny_model_dir, "--output", str(as_csv), "--num-workers", "0"]) == 0
    assert _cli(["index", str(as_csv), "--output", str(tmp_path / "idx_csv")]) == 2
    assert "does not record which model" in capsys.readouterr().err
    assert _cli(["index", str(as_csv), "--output", str(tmp_path / "idx_csv"), "--model", tiny_model_dir]) == 0
    capsys.readouterr()

    sheet = tmp_path / "sheet.png"
    code = _cli(["similar", str(photo_folder / "grace.jpg"), "--index", str(tmp_path / "idx"), "--k", "3", "--sheet", str(sheet)])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("query grace.jpg: whole image [")
    first = lines[2].split()
    assert first[0] == "1" and float(first[1]) < 1e-4 and first[2].endswith("grace.jpg")  # itself, as extracted
    assert len(lines) == 5 and "querying with the whole image too" in err
    assert PIL.Image.open(sheet).size[0] > 400

    code = _cli(["similar", str(vectors), "--row", "0", "--index", str(tmp_path / "idx"), "--k", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    queried = lines[0].split()[1]  # "query <file name> (row 0, <expression>)"
    assert lines[0].startswith("query ") and "(row 0" in lines[0]
    assert len(lines) == 4 and not any(Path(line.split()[2]).name == queried for line in lines[2:])  # not itself
    code = _cli(["similar", str(vectors), "--row", "0", "--row", "3", "--include-self", "--index", str(tmp_path / "idx"), "--k", "1"
                 , "--model", tiny_model_dir])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and len(lines) == 6
    assert Path(lines[2].split()[2]).name == queried and float(lines[2].split()[1]) < 1e-5  # itself, when asked

    assert _cli(["similar", str(vectors), "--index", str(tmp_path / "idx")]) == 2
    assert "--row" in capsys.readouterr().err


def test_cli_similar_refuses_another_models_index(tmp_path, tiny_model_dir, photo_folder, capsys):
    import torch

    from hf_deepfever import DeepFeverConfig, DeepFeverForExpressionRecognition, DeepFeverImageProcessor

    torch.manual_seed(1)
    other = tmp_path / "other_model"
    DeepFeverForExpressionRecognition(DeepFeverConfig(backbone="test_resnet", image_size=64, embedding_dim=16)).save_pretrained(other)
    DeepFeverImageProcessor(size={"height": 64, "width": 64}).save_pretrained(other)
    vectors = tmp_path / "vectors.csv"
    assert _cli(["extract", str(photo_folder), "--model", tiny_model_dir, "--output", str(vectors), "--num-workers", "0"]) == 0
    assert _cli(["index", str(vectors), "--output", str(tmp_path / "idx"), "--model", tiny_model_dir]) == 0
    capsys.readouterr()
    assert _cli(["similar", str(photo_folder / "grace.jpg"), "--index", str(tmp_path / "idx"), "--model", str(other)]) == 2
    assert "cannot be compared" in capsys.readouterr().err


def test_photo_queries_embed_faces_as_the_face_expression_pipeline_does(tiny_model_dir, photo_folder):
    """One path: the query vector of a face is the pipeline's vector of that face."""
    from transformers import pipeline

    from hf_deepfever.models.deepfever.pipeline_face_expression import register_face_expression_pipeline
    from hf_deepfever.core.face_front_end import analyse_photo, load_visual_model

    register_face_expression_pipeline()  # done by the package's registration once that lands; safe to repeat

    visual = load_visual_model(tiny_model_dir)
    ours = analyse_photo(photo_folder / "grace.jpg", visual.model, visual.processor)
    assert len(ours.faces) == 1
    theirs = pipeline("face-expression", model=tiny_model_dir)(str(photo_folder / "grace.jpg"), return_vectors=True)
    assert len(theirs) == 1
    assert tuple(theirs[0]["box"].values()) == pytest.approx(ours.faces[0].box)
    np.testing.assert_allclose(ours.faces[0].vector, theirs[0]["vector"], atol=1e-5)
    assert ours.faces[0].label == theirs[0]["label"]
    assert ours.faces[0].valence == pytest.approx(theirs[0]["valence"], abs=1e-5)


def test_cli_similar_finds_a_photos_face_in_an_index_of_faces(tmp_path, tiny_model_dir, photo_folder, capsys):
    """An index with face boxes (the announced `extract --detect-faces` columns): an image query is its largest face."""
    from hf_deepfever.core.face_front_end import analyse_photo, load_visual_model

    visual = load_visual_model(tiny_model_dir)
    columns: dict[str, list] = {name: [] for name in ("path", "face_index", "face_x", "face_y", "face_w", "face_h", "vector")}
    for photo in sorted(photo_folder.iterdir()):
        for number, face in enumerate(analyse_photo(photo, visual.model, visual.processor).faces):
            for name, value in zip(("path", "face_index", "face_x", "face_y", "face_w", "face_h"), (str(photo), number, *face.box)):
                columns[name].append(value)
            columns["vector"].append(face.vector.tolist())
    table = pa.table({**columns, "vector": pa.array(columns["vector"], type=pa.list_(pa.float32()))})
    identity = model_fingerprint(tiny_model_dir)
    pq.write_table(table.replace_schema_metadata({MODEL_METADATA_KEY: json.dumps(identity.to_dict())}), tmp_path / "faces.parquet")
    assert _cli(["index", str(tmp_path / "faces.parquet"), "--output", str(tmp_path / "idx")]) == 0
    assert "(with face boxes)" in capsys.readouterr().out
    assert _cli(["similar", str(photo_folder / "grace.jpg"), "--index", str(tmp_path / "idx"), "--k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("query grace.jpg: face 1 of 1 at (")
    rank, distance, path = lines[2].split()[:3]
    assert rank == "1" and float(distance) < 1e-5 and path == str(photo_folder / "grace.jpg")
