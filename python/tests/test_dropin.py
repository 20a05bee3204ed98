"""diff() as the original diffimg 0.3.0's: the behaviours its own unit tests check, the values
it prints for the reference images, its errors, its diff image, and `python -m diffimg`."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageChops

from conftest import (
    BLACK,
    MARIO_CS,
    MARIO_DIFF,
    MARIO_NODE,
    WHITE,
    YANDEX1,
    YANDEX2,
    pillow_diff,
)
from diffimg import DiffimgError, diff

# Values diffimg 0.3.0 prints for the reference images.
SEED_VALUES = [
    (BLACK, WHITE, False, 1.0),
    (BLACK, WHITE, True, 1.0),
    (MARIO_CS, MARIO_NODE, False, 0.007319618135968298),
    (MARIO_CS, MARIO_NODE, True, 0.008675405566134298),
    (MARIO_CS, YANDEX1, True, 0.3503192421617232),
    (MARIO_CS, YANDEX1, False, 0.3845956579263376),
    (YANDEX1, MARIO_CS, False, 0.382925971106781),
]


@pytest.mark.parametrize("a, b, ignore_alpha, expected", SEED_VALUES)
def test_reference_values(a, b, ignore_alpha, expected, in_tmp):
    assert diff(a, b, delete_diff_file=True, ignore_alpha=ignore_alpha) == expected
    assert os.listdir(in_tmp) == []


def test_rgb_converted_to_rgba_against_rgba(in_tmp):
    Image.open(YANDEX2).convert("RGBA").save("yandex2-rgba.png")
    assert diff(YANDEX1, "yandex2-rgba.png", delete_diff_file=True) == 0.0064159041369415025


def test_different_modes_raise_value_error_naming_both():
    with pytest.raises(ValueError) as raised:
        diff(YANDEX1, YANDEX2)
    message = str(raised.value)
    expected = (
        f"Differing color modes:\n  {YANDEX1}: RGBA\n  {YANDEX2}: RGB\n"
        "Ensure image color modes are the same."
    )
    assert message == expected


def test_writes_diff_img_png_by_default(in_tmp):
    diff(MARIO_CS, MARIO_NODE)
    assert os.listdir(in_tmp) == ["diff_img.png"]
    written = Image.open("diff_img.png")
    assert written.format == "PNG"
    # Every channel is |a - b|, alpha included, as diffimg writes it.
    assert np.array_equal(np.asarray(written), np.asarray(Image.open(MARIO_DIFF)))


def test_delete_diff_file_writes_nothing(in_tmp):
    diff(MARIO_CS, MARIO_NODE, delete_diff_file=True, diff_img_file="test-diff.jpg")
    assert os.listdir(in_tmp) == []


def test_jpg_diff_image(in_tmp):
    diff(MARIO_CS, MARIO_NODE, diff_img_file="test-diff.jpg")
    written = Image.open("test-diff.jpg")
    assert (written.format, written.mode) == ("JPEG", "RGB")


def test_png_diff_image(in_tmp):
    diff(YANDEX2, YANDEX2, diff_img_file="test-diff.png")
    assert Image.open("test-diff.png").format == "PNG"


def test_no_extension_saves_png(in_tmp):
    diff(YANDEX2, YANDEX2, diff_img_file="test-diff")
    assert Image.open("test-diff").format == "PNG"


def test_ignore_alpha_diff_image_is_opaque(in_tmp):
    diff(MARIO_CS, MARIO_NODE, diff_img_file="test-diff.png", ignore_alpha=True)
    assert Image.open("test-diff.png").getextrema()[3] == (255, 255)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("ignore_alpha", [False, True])
def test_diff_image_is_diffimgs(mode, ignore_alpha, in_tmp):
    """The diff image, pixel for pixel and mode, is Pillow's difference (with an alpha of 255
    put in when ignoring alpha, which adds the channel to L and RGB images)."""
    rng = np.random.default_rng(2)
    random_image(rng, mode, (31, 17)).save("a.png")
    random_image(rng, mode, (31, 17)).save("b.png")
    diff("a.png", "b.png", diff_img_file="d.png", ignore_alpha=ignore_alpha)
    expected = ImageChops.difference(Image.open("a.png"), Image.open("b.png"))
    if ignore_alpha:
        expected.putalpha(255)
    written = Image.open("d.png")
    assert written.mode == expected.mode
    assert np.array_equal(np.asarray(written), np.asarray(expected))


def test_missing_file_raises_file_not_found(in_tmp):
    with pytest.raises(FileNotFoundError):
        diff("missing.png", MARIO_CS)
    with pytest.raises(FileNotFoundError):
        diff(MARIO_CS, "missing.png")


def test_not_an_image_raises_diffimg_error(in_tmp):
    with open("text.png", "w") as f:
        f.write("not an image")
    with pytest.raises(DiffimgError):
        diff("text.png", MARIO_CS, delete_diff_file=True)
    assert os.listdir(in_tmp) == ["text.png"]


def test_flags_are_tested_for_truth(in_tmp):
    assert diff(MARIO_CS, MARIO_NODE, 1, None, 1) == 0.008675405566134298
    assert os.listdir(in_tmp) == []


def test_file_objects_as_pillow_opens_them(in_tmp):
    import io

    with open(MARIO_CS, "rb") as a, open(MARIO_NODE, "rb") as b:
        assert diff(a, b, delete_diff_file=True) == 0.007319618135968298
    with open(YANDEX1, "rb") as a:
        data = io.BytesIO(open(MARIO_CS, "rb").read())
        assert diff(data, a, delete_diff_file=True, ignore_alpha=True) == 0.3503192421617232
    with open(YANDEX1, "rb") as a, open(YANDEX2, "rb") as b, pytest.raises(ValueError) as raised:
        diff(a, b)
    assert str(a) in str(raised.value) and str(b) in str(raised.value)
    with pytest.raises(TypeError):
        diff(12, MARIO_CS)
    with pytest.raises(TypeError, match="read\\(\\) returned str, expected bytes"):
        diff(io.StringIO("text"), MARIO_NODE)


def test_pathlike_arguments(in_tmp):
    from pathlib import Path

    ratio = diff(Path(MARIO_CS), Path(MARIO_NODE), diff_img_file=Path("out.png"))
    assert ratio == 0.007319618135968298
    assert os.listdir(in_tmp) == ["out.png"]


def random_image(rng, mode, size):
    width, height = size
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    if channels in (2, 4):
        pixels[::3, :, -1] = 255
        pixels[1::4, :, -1] = 0
    return Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode)


PAIRS = [((40, 30), (40, 30)), ((40, 30), (77, 51)), ((77, 51), (40, 30)), ((30, 90), (95, 20))]


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("ignore_alpha", [False, True])
def test_same_number_as_diffimg_on_pillow(mode, ignore_alpha, in_tmp):
    rng = np.random.default_rng(11)
    for n, (size_a, size_b) in enumerate(PAIRS):
        a, b = f"a{n}.png", f"b{n}.png"
        random_image(rng, mode, size_a).save(a)
        random_image(rng, mode, size_b).save(b)
        expected = pillow_diff(a, b, ignore_alpha)
        assert diff(a, b, delete_diff_file=True, ignore_alpha=ignore_alpha) == expected, (
            size_a,
            size_b,
        )


def test_sixteen_bit_colour_is_read_as_pillow_reads_it(in_tmp):
    """Pillow opens 16-bit RGB PNGs as 8-bit RGB (their high bytes)."""
    rng = np.random.default_rng(3)
    for name in ("a16.png", "b16.png"):
        samples = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
        write_png16(name, samples)
    assert diff("a16.png", "b16.png", delete_diff_file=True) == pillow_diff("a16.png", "b16.png")


def write_png16(path, samples):
    """An RGB 16-bit PNG (Pillow cannot write one)."""
    import struct
    import zlib

    height, width = samples.shape[:2]
    raw = b"".join(b"\0" + samples[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header))
        f.write(chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_sixteen_bit_grey_is_refused_as_diffimg_refuses_it(in_tmp):
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((4, 5), 1000, dtype=np.uint16)).save(name)
    with pytest.raises(ValueError, match="wrong mode"):
        diff("a.png", "b.png", delete_diff_file=True)


def run_module(*args):
    return subprocess.run(
        [sys.executable, "-m", "diffimg", *args], capture_output=True, text=True, check=True
    ).stdout


def test_module_prints_what_diffimg_prints(in_tmp):
    assert run_module(MARIO_CS, MARIO_NODE, "-r", "-d") == "0.007319618135968298\n"
    assert run_module(MARIO_CS, MARIO_NODE, "--ratio", "--delete", "--ignore-alpha") == (
        "0.008675405566134298\n"
    )
    assert run_module(MARIO_CS, YANDEX1, "-r", "-d", "-ia") == "0.3503192421617232\n"
    expected = "Images differ by {}%\n".format(0.007319618135968298 * 100)
    assert run_module(MARIO_CS, MARIO_NODE, "-d") == expected
    assert os.listdir(in_tmp) == []
    run_module(MARIO_CS, MARIO_NODE, "-f", "out.jpg")
    assert os.listdir(in_tmp) == ["out.jpg"]
    run_module(MARIO_CS, MARIO_NODE, "--filename", "out.png")
    run_module(MARIO_CS, MARIO_NODE)
    assert sorted(os.listdir(in_tmp)) == ["diff_img.png", "out.jpg", "out.png"]


def test_module_reports_differing_modes():
    result = subprocess.run(
        [sys.executable, "-m", "diffimg", YANDEX1, YANDEX2, "-d"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "ValueError: Differing color modes" in result.stderr


def test_cmyk_pair_as_diffimg_on_pillow(in_tmp):
    """Pillow keeps a CMYK pair in CMYK: the ratio is over the four samples as stored, image 2
    resized without any alpha weighting, and the default PNG diff image fails to save."""
    rng = np.random.default_rng(5)
    for name, (width, height) in (("a.tif", (40, 30)), ("b.tif", (57, 21))):
        pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
        Image.fromarray(pixels, "CMYK").save(name)
    assert diff("a.tif", "b.tif", delete_diff_file=True) == pillow_diff("a.tif", "b.tif")
    with pytest.raises(OSError, match="cannot write mode CMYK as PNG"):
        diff("a.tif", "b.tif")
    assert sorted(os.listdir(in_tmp)) == ["a.tif", "b.tif"]
    Image.open("a.tif").convert("RGBA").save("rgba.png")
    with pytest.raises(ValueError, match="Differing color modes"):
        diff("a.tif", "rgba.png", delete_diff_file=True)
