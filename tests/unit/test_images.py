"""Image datasets: folders of real digit images, decoded by Pillow and preprocessed as declared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ovq.config.schema import DatasetSpec, parse_pipeline
from ovq.errors import ConfigError, DataMismatchError, InputFileError
from ovq.inputs.datasets import describe_dataset, load_dataset
from ovq.inputs.images import ImagePreprocess, find_images, load_image_items, preprocess_image
from tests.images_data import digit_images, write_digit_folder

DIGITS_SCALE = 1.0 / 240.0  # pixel = value * 15, value / 16 = pixel / 240


def test_folder_reproduces_the_recipe_arrays_with_labels_from_sub_folders(tmp_path: Path) -> None:
    from models.digits import recipe as digits

    write_digit_folder(tmp_path / "digits", count=30)
    spec = DatasetSpec(images="digits", labels="folders", preprocess={"color": "gray", "scale": DIGITS_SCALE})
    items = load_dataset(spec, base_dir=tmp_path)
    # Sorted by path: class folders first, then file names, which are the recipe's order within a class.
    expected = sorted(enumerate(digits.dataset("validation")[:30]), key=lambda pair: (str(pair[1][1]), pair[0]))
    assert len(items) == 30
    for (inputs, label), (_, (image, true_label)) in zip(items, expected, strict=True):
        assert inputs.shape == (1, 1, 8, 8) and inputs.dtype == np.float32
        np.testing.assert_allclose(inputs, image, atol=1e-6)
        assert int(label) == true_label


def test_batches_csv_labels_and_limit(tmp_path: Path) -> None:
    folder = write_digit_folder(tmp_path / "flat", count=12, by_class=False)
    labels = [label for _, label in digit_images(12)]
    (tmp_path / "labels.csv").write_text(
        "file,label\n" + "".join(f"{index:04d}.png,{label}\n" for index, label in enumerate(labels))
    )
    items = load_image_items(folder, labels="labels.csv", batch_size=4, base_dir=tmp_path, limit=2)
    assert [inputs.shape for inputs, _ in items] == [(4, 3, 8, 8), (4, 3, 8, 8)]
    assert [list(target) for _, target in items] == [labels[0:4], labels[4:8]]


def test_named_csv_labels_are_numbered_in_sorted_order(tmp_path: Path) -> None:
    folder = write_digit_folder(tmp_path / "flat", count=3, by_class=False)
    (tmp_path / "labels.csv").write_text("file,label\n0000.png,dog\n0001.png,cat\n0002.png,dog\n")
    items = load_image_items(folder, labels="labels.csv", base_dir=tmp_path)
    assert [int(target) for _, target in items] == [1, 0, 1]


def test_letterbox_keeps_aspect_and_pads(tmp_path: Path) -> None:
    wide = Image.new("RGB", (40, 20), (200, 100, 50))
    wide.save(tmp_path / "wide.png")
    spec = ImagePreprocess(size=[40, 40], resize="letterbox", pad_value=0, dtype="uint8", layout="NHWC")
    array = preprocess_image(tmp_path / "wide.png", spec)
    assert array.shape == (40, 40, 3) and array.dtype == np.uint8
    assert (array[:10] == 0).all() and (array[30:] == 0).all()  # padding above and below
    assert tuple(array[20, 20]) == (200, 100, 50)


def test_crop_bgr_mean_std_and_layout() -> None:
    picture = Image.new("RGB", (60, 30))
    picture.paste((255, 0, 0), (0, 0, 30, 30))  # left half red, right half blue
    picture.paste((0, 0, 255), (30, 0, 60, 30))
    spec = ImagePreprocess(size=[10, 10], resize="crop", color="bgr", mean=[0.5, 0.5, 0.5], std=0.5)
    array = preprocess_image(picture, spec)
    assert array.shape == (3, 10, 10)
    # The center crop straddles the border: left columns red, right columns blue; BGR puts blue first.
    assert array[2, 5, 0] == pytest.approx(1.0) and array[0, 5, 0] == pytest.approx(-1.0)
    assert array[0, 5, 9] == pytest.approx(1.0) and array[2, 5, 9] == pytest.approx(-1.0)


def test_jpeg_and_recursive_discovery(tmp_path: Path) -> None:
    write_digit_folder(tmp_path / "a", count=3, suffix=".jpg", upscale=4, rgb=True)
    write_digit_folder(tmp_path / "a" / "nested", count=2, suffix=".bmp", by_class=False)
    files = find_images(tmp_path / "a")
    assert len(files) == 5
    assert [f.suffix for f in files].count(".bmp") == 2


def test_report_description_spells_out_defaults(tmp_path: Path) -> None:
    write_digit_folder(tmp_path / "d", count=4)
    spec = DatasetSpec(images="d", labels="folders", preprocess={"size": [16, 16]})
    described = describe_dataset(spec, load_dataset(spec, base_dir=tmp_path))
    assert described["source"] == "images" and described["items"] == 4 and described["labeled"]
    assert described["input_shapes"] == [[1, 3, 16, 16]]
    assert described["preprocess"]["scale"] == pytest.approx(1 / 255)
    assert described["preprocess"]["layout"] == "NCHW"


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({"images": "x", "preprocess": {"resize": "letterbox"}}, "needs size"),
        ({"images": "x", "preprocess": {"mean": [1, 2]}}, "one per channel"),
        ({"images": "x", "preprocess": {"dtype": "uint8", "std": 2}}, "raw pixels"),
        ({"images": "x", "preprocess": {"colour": "rgb"}}, "did you mean 'color'"),
        ({"path": "x.npz", "labels": "folders"}, "image folders"),
        ({"images": "x", "labels": "classes.txt"}, "'folders' or a .csv"),
    ],
)
def test_bad_image_configs_are_config_errors(dataset: dict[str, Any], message: str) -> None:
    raw = {"name": "x", "model": {"onnx": "m.onnx"}, "datasets": {"d": dataset}, "stages": [{"stage": "export"}]}
    with pytest.raises(ConfigError, match=message):
        parse_pipeline(raw)


def test_data_problems_name_the_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="image folder not found"):
        load_dataset(DatasetSpec(images="missing"), base_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="is a folder") as raised:
        load_dataset(DatasetSpec(path="empty"), base_dir=tmp_path)
    assert "write images: instead of path:" in str(raised.value.hint)
    write_digit_folder(tmp_path / "mixed", count=2, by_class=False)
    Image.new("RGB", (9, 9)).save(tmp_path / "mixed" / "odd.png")
    with pytest.raises(DataMismatchError, match="images differ in size"):
        load_dataset(DatasetSpec(images="mixed"), base_dir=tmp_path)
    with pytest.raises(DataMismatchError, match="sits directly in"):
        load_dataset(DatasetSpec(images="mixed", labels="folders"), base_dir=tmp_path)
    (tmp_path / "l.csv").write_text("file,label\n0000.png,1\n")
    with pytest.raises(DataMismatchError, match="no label for 2 image"):
        load_dataset(DatasetSpec(images="mixed", labels="l.csv"), base_dir=tmp_path)
