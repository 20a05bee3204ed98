"""The crate's resize against Pillow's own, pixel for pixel: every mode the tool reads (L, LA,
RGB, RGBA, and 16-bit grey, Pillow's I;16), sizes up, down and mixed, both pass orders."""

import numpy as np
import pytest
from PIL import Image

from diffimg import compare

SIZES = [
    ((37, 23), (80, 51)),  # up
    ((80, 51), (37, 23)),  # down
    ((64, 64), (17, 130)),  # narrower, taller
    ((30, 90), (95, 20)),  # wider, much shorter: Pillow 13 resizes vertically first
    ((50, 50), (49, 10)),  # height shrinks over twice the width: vertically first too
    ((40, 40), (40, 13)),  # height only
    ((40, 40), (13, 40)),  # width only
    ((1, 1), (9, 7)),
    ((9, 7), (1, 1)),
    ((1000, 3), (7, 2)),  # a wide filter support when shrinking
]

MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "I;16": 1}


def source(rng, mode, size):
    width, height = size
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    channels = MODES[mode]
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    if channels in (2, 4):
        pixels[::3, :, -1] = 0  # transparent rows, whose colour premultiplying drops
        pixels[1::5, :, -1] = 255
    return Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("size, target", SIZES)
def test_resize_is_pillows(mode, size, target, tmp_path):
    rng = np.random.default_rng(abs(hash((mode, size, target))) % 2**32)
    image = source(rng, mode, size)
    image.save(tmp_path / "source.png")
    expected = image.resize(target)
    expected.save(tmp_path / "pillow.png")
    # The source is resized to the Pillow-resized image's size, then compared with it.
    result = compare(tmp_path / "pillow.png", tmp_path / "source.png", resize=True)
    assert (result["width"], result["height"]) == target
    assert result["sum"] == 0, f"{result['differing_pixels']} pixels differ"
    # The same through an array, for the image resized into.
    array = np.asarray(expected)
    assert compare(array, tmp_path / "source.png", resize=True)["sum"] == 0


def test_large_shrink_and_enlargement(tmp_path):
    rng = np.random.default_rng(1)
    image = source(rng, "RGBA", (1200, 900))
    image.save(tmp_path / "source.png")
    for target in ((331, 257), (1500, 1100)):
        image.resize(target).save(tmp_path / "pillow.png")
        assert compare(tmp_path / "pillow.png", tmp_path / "source.png", resize=True)["sum"] == 0
