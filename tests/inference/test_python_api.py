"""The Python API a newcomer finds: ``dir(kerascnn)`` and ``kerascnn.predict`` on any images."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import kerascnn
from kerascnn.inference import fit_to_shape, load_images, load_predictor


def test_dir_lists_the_public_names_without_importing_tensorflow():
    code = (
        "import sys, kerascnn; names = dir(kerascnn); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported TensorFlow'; print(names)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    names = eval(out.stdout)
    for name in ("fit", "evaluate", "predict", "build", "list_models", "load_dataset", "tune", "TrainConfig"):
        assert name in names
    assert set(kerascnn.__all__) <= set(names)


def test_every_listed_name_resolves():
    for name in kerascnn.__all__:
        assert getattr(kerascnn, name) is not None, name
    assert kerascnn.predict is kerascnn.inference.predict
    with pytest.raises(AttributeError, match="has no attribute 'fitt'"):
        kerascnn.fitt


@pytest.fixture(scope="module")
def predictor(exported):
    return load_predictor(exported("tflite-none"))


def test_predict_one_image_file_and_a_folder(exported, digits, predictor, tmp_path):
    folder = tmp_path / "digits"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(digits["x_test"][i, ..., 0]).save(folder / f"{i}.png")
    expected = predictor.predict(load_images([folder / f"{i}.png" for i in range(3)], predictor.image_shape))
    one = kerascnn.predict(exported("tflite-none"), folder / "0.png")
    assert one.probabilities.shape == (1, 10) and np.allclose(one.probabilities, expected[:1])
    assert one.sources == [str(folder / "0.png")] and one.labels == [predictor.class_names[expected[0].argmax()]]
    everything = kerascnn.predict(predictor, folder)
    assert len(everything) == 3 and np.allclose(everything.probabilities, expected)
    assert everything.top_k(2)[0][0] == (everything.labels[0], pytest.approx(float(expected[0].max())))


def test_predict_arrays_and_pil_images_of_other_sizes(predictor, digits):
    image = digits["x_test"][0]  # 8x8x1, the model's size
    big = np.kron(image, np.ones((5, 5, 1), np.uint8))  # 40x40x1
    rgb = np.repeat(big, 3, axis=2)
    got = kerascnn.predict(predictor, [image, big[..., 0], rgb, Image.fromarray(rgb)])
    converted = np.stack(
        [image, fit_to_shape(big, (8, 8, 1)), fit_to_shape(rgb, (8, 8, 1)), fit_to_shape(rgb, (8, 8, 1))]
    )
    assert np.allclose(got.probabilities, predictor.predict(converted))
    assert got.sources == ["images[0]", "images[1]", "images[2]", "images[3]"]
    batch = kerascnn.predict(predictor, digits["x_test"][:4])
    assert batch.sources == [f"images[{i}]" for i in range(4)] and "Predictions(images[0]:" in repr(batch)


def test_predict_refuses_what_it_cannot_use(predictor, trained_run):
    from kerascnn.errors import DataError, KerasCNNError

    with pytest.raises(DataError, match="float64 values"):
        kerascnn.predict(predictor, np.random.rand(8, 8))
    with pytest.raises(KerasCNNError, match="A keras.Model alone does not say how its images were preprocessed"):
        kerascnn.predict(kerascnn.build("lenet"), np.zeros((8, 8), np.uint8))
