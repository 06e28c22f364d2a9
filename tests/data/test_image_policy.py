"""One image rule for training folders, ``kerascnn predict`` and the server (kerascnn.data.image_policy)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from kerascnn.cli.main import main
from kerascnn.data import image_policy
from kerascnn.data.image_policy import decode, inspect
from kerascnn.errors import DataError
from kerascnn.inference.images import load_image
from kerascnn.serving.image_limits import check_string_inputs
from kerascnn.serving.status import ServingError
from kerascnn_testing.data_files import png_bomb, write_image_folder

RNG = np.random.default_rng(0)


def _encode(array, mode=None, fmt="PNG", **info) -> bytes:
    buffer = io.BytesIO()
    if mode:
        image = Image.frombytes(mode, (array.shape[1], array.shape[0]), array.tobytes())
    else:
        image = Image.fromarray(array)
    image.save(buffer, format=fmt, **info)
    return buffer.getvalue()


def _palette_with_transparency() -> bytes:
    image = Image.frombytes("P", (8, 8), RNG.integers(0, 4, (8, 8), dtype=np.uint8).tobytes())
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=0)
    return buffer.getvalue()


ACCEPTED = {  # name -> (encoded image, channels after decoding)
    "gray.png": (_encode(RNG.integers(0, 256, (8, 6), dtype=np.uint8)), 1),
    "rgb.png": (_encode(RNG.integers(0, 256, (8, 6, 3), dtype=np.uint8)), 3),
    "rgb.jpg": (_encode(RNG.integers(0, 256, (8, 6, 3), dtype=np.uint8), fmt="JPEG"), 3),
    "gray.bmp": (_encode(RNG.integers(0, 256, (8, 6), dtype=np.uint8), fmt="BMP"), 1),
    "palette.gif": (_encode(RNG.integers(0, 256, (8, 6), dtype=np.uint8), fmt="GIF"), 1),
    "bilevel.png": (_encode(RNG.integers(0, 2, (8, 6), dtype=np.uint8).astype(bool)), 1),
}
REFUSED = {  # name -> (encoded image, part of the one-line reason)
    "rgba.png": (_encode(RNG.integers(0, 256, (8, 8, 4), dtype=np.uint8), mode="RGBA"), "has 4 channels (RGBA)"),
    "la.png": (_encode(RNG.integers(0, 256, (8, 8, 2), dtype=np.uint8), mode="LA"), "has 2 channels (LA)"),
    "transparent-palette.png": (_palette_with_transparency(), "has 2 channels (PA)"),
    "deep.png": (_encode(RNG.integers(0, 65536, (8, 8), dtype=np.uint16)), "is a 16-bit image"),
    "cmyk.jpg": (_encode(RNG.integers(0, 256, (8, 8, 4), dtype=np.uint8), mode="CMYK", fmt="JPEG"), "is a CMYK image"),
    "text.png": (b"hello, not an image", "is not an image kerascnn can read"),
}


CONVERTED_IN_FOLDERS = ("rgba.png", "la.png", "transparent-palette.png", "deep.png")


def test_training_folders_composite_alpha_on_white_and_keep_the_high_byte_of_16_bits(tmp_path):
    from PIL import Image

    from kerascnn.data import prepare_data

    folder = write_image_folder(tmp_path / "data")
    rgba = np.zeros((12, 12, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 0  # fully transparent red: white on white
    rgba[:6, :, 3] = 255  # the top half opaque red
    Image.fromarray(rgba, mode="RGBA").save(folder / "left" / "zz-rgba.png")
    deep = np.full((12, 12), 0x7F80, np.uint16)
    Image.frombytes("I;16", (12, 12), deep.astype("<u2").tobytes()).save(folder / "right" / "zz-deep.png")
    data = prepare_data(folder, (12, 12, 3), val_split=0)
    raw = data.raw
    every = dict(zip(raw.train_ids, raw.x_train))  # both parts keep the listing's order (sorted paths)
    test_ids = [i for i in sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")) if i not in every]
    every.update(zip(test_ids, raw.x_test))
    top, bottom = every["left/zz-rgba.png"][:6], every["left/zz-rgba.png"][6:]
    assert (top == [200, 0, 0]).all() and (bottom == 255).all()
    assert (every["right/zz-deep.png"] == 0x7F).all()


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_accepted_images_decode_to_8_bit_gray_or_rgb(name):
    data, channels = ACCEPTED[name]
    header = inspect(data, name)
    array = decode(data, name)
    assert header.channels == channels and array.dtype == np.uint8 and array.shape == (8, 6, channels)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_predict_folders_and_the_server_refuse_the_same_images_with_the_same_line(name, tmp_path):
    data, reason = REFUSED[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DataError, match=reason.replace("(", r"\(").replace(")", r"\)")) as predict_error:
        load_image(path, (8, 8, 1))  # kerascnn predict
    assert len(str(predict_error.value).splitlines()) == 1
    folder = write_image_folder(tmp_path / "data")
    (folder / "left" / name).write_bytes(data)
    from kerascnn.data import load_dataset

    if name in CONVERTED_IN_FOLDERS:  # training folders convert these, as Keras' and torchvision's loaders do
        assert len(load_dataset(str(folder)).y_train) + len(load_dataset(str(folder)).y_test) == 25
    else:
        with pytest.raises(DataError, match=reason.replace("(", r"\(").replace(")", r"\)")):
            load_dataset(str(folder))  # training data
    if name != "text.png":  # the server leaves what is not an image at all to the model's decoder
        with pytest.raises(ServingError, match=reason.replace("(", r"\(").replace(")", r"\)")) as served:
            check_string_inputs({"image_bytes": np.array([ACCEPTED["gray.png"][0], data], dtype=object)}, 10**6)
        assert served.value.code == "INVALID_ARGUMENT" and "'image_bytes' element 1" in str(served.value)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "huge.png"
    path.write_bytes(png_bomb())  # 388,871 bytes, 20000x20000 pixels
    return path


def test_the_pixel_limit_is_read_from_the_header_before_decoding(bomb, monkeypatch):
    import resource

    from PIL import ImageFile

    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self) or real_load(self))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DataError, match="is 20000x20000 = 400,000,000 pixels, over the limit of 40,000,000"):
        decode(bomb)
    # Pillow never started decoding (a process that already peaked higher would not show it in its maxrss).
    assert decoded == []
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KB: nothing was decoded
    decode(ACCEPTED["gray.png"][0])
    assert decoded  # an image under the limit is decoded through the same Pillow call
    monkeypatch.setenv(image_policy.ENV_MAX_PIXELS, "47")
    with pytest.raises(DataError, match="6x8 = 48 pixels, over the limit of 47"):
        inspect(ACCEPTED["gray.png"][0])
    image_policy.set_max_pixels(48)
    try:
        assert inspect(ACCEPTED["gray.png"][0]).width == 6  # the process setting wins over the variable
    finally:
        image_policy.set_max_pixels(None)


def test_predict_refuses_a_decompression_bomb_in_one_line(bomb, trained_run, capsys):
    # Before: a 26-line PIL.Image.DecompressionBombError traceback before.
    assert main(["predict", str(trained_run), str(bomb)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "over the limit of 40,000,000" in err, err
    assert main(["predict", str(trained_run), str(bomb), "--max-image-pixels", "10"]) == 1
    assert "over the limit of 10;" in capsys.readouterr().err
