"""compare(): its figures, inputs given as paths, bytes and arrays of every dtype and layout,
its exceptions, and comparisons in parallel threads with the GIL released."""

import math
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import MARIO_CS, MARIO_NODE, YANDEX1, YANDEX2
import diffimg
from diffimg import DiffimgError, compare

FIELDS = {
    "ratio", "percent", "width", "height", "channels", "bit_depth", "mean_abs_diff", "sum",
    "differing_pixels", "max_diff", "max_diff_at", "rms", "psnr", "bbox", "ignored_pixels",
    "engine", "elapsed_ms",
}


def figures(result):
    """The figures that depend only on the images (not the engine or the time taken)."""
    return {k: v for k, v in result.items() if k not in ("engine", "elapsed_ms")}


def test_figures_of_the_mario_pair():
    result = compare(MARIO_CS, MARIO_NODE, backend="cpu")
    assert set(result) == FIELDS
    assert result["ratio"] == 0.007319618135968298
    assert result["sum"] == 1365384
    assert (result["width"], result["height"], result["channels"]) == (381, 480, 4)
    assert result["bit_depth"] == 8
    assert result["engine"]["kind"] == "cpu"
    pixels = np.asarray(Image.open(MARIO_CS)).astype(int)
    other = np.asarray(Image.open(MARIO_NODE)).astype(int)
    delta = np.abs(pixels - other)
    assert result["max_diff"] == delta.max()
    assert result["differing_pixels"] == int((delta.max(axis=2) > 0).sum())
    ys, xs = np.nonzero(delta.max(axis=2))
    bbox = {"x": xs.min(), "y": ys.min(), "width": xs.max() - xs.min() + 1,
            "height": ys.max() - ys.min() + 1}
    assert result["bbox"] == {k: int(v) for k, v in bbox.items()}
    assert result["mean_abs_diff"] == [delta[:, :, c].sum() / (381 * 480) for c in range(4)]
    mean_square = int((delta * delta).sum()) / (381 * 480 * 4)
    assert result["rms"] == math.sqrt(mean_square)
    assert result["psnr"] == 10 * math.log10(255 * 255 / mean_square)
    largest = delta.max(axis=2)
    y, x = divmod(int(np.argmax(largest == delta.max())), 381)
    channel = int(np.argmax(delta[y, x] == delta.max()))
    assert result["max_diff_at"] == {"x": x, "y": y, "channel": channel}


def test_paths_bytes_and_arrays_give_the_same_figures():
    by_path = figures(compare(MARIO_CS, Path(MARIO_NODE)))
    encoded = [Path(p).read_bytes() for p in (MARIO_CS, MARIO_NODE)]
    assert figures(compare(*encoded)) == by_path
    assert figures(compare(bytearray(encoded[0]), MARIO_NODE)) == by_path
    arrays = [np.asarray(Image.open(p)) for p in (MARIO_CS, MARIO_NODE)]
    assert figures(compare(*arrays)) == by_path
    assert figures(compare(arrays[0], encoded[1])) == by_path


def layouts(pixels):
    """The same H x W x C image in many memory layouts."""
    yield "C order", np.ascontiguousarray(pixels)
    yield "Fortran order", np.asfortranarray(pixels)
    padded = np.zeros((pixels.shape[0] * 2, pixels.shape[1] * 3) + pixels.shape[2:], pixels.dtype)
    padded[::2, ::3] = pixels
    yield "every other row, every third column", padded[::2, ::3]
    flipped = np.ascontiguousarray(pixels[::-1, ::-1])
    yield "negative strides", flipped[::-1, ::-1]
    if pixels.ndim == 3:
        planar = np.ascontiguousarray(np.moveaxis(pixels, 2, 0))
        yield "planar", np.moveaxis(planar, 0, 2)
    if pixels.dtype == np.uint16:
        yield "big-endian", pixels.astype(">u2")
    yield "read-only", np.frombuffer(pixels.tobytes(), pixels.dtype).reshape(pixels.shape)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [None, 1, 2, 3, 4])
def test_arrays_of_every_dtype_and_layout(dtype, channels):
    rng = np.random.default_rng(channels or 0)
    shape = (37, 53) if channels is None else (37, 53, channels)
    top = np.iinfo(dtype).max
    a = rng.integers(0, top, shape, dtype=dtype, endpoint=True)
    b = a.copy()
    b[rng.random(shape[:2]) < 0.3] = rng.integers(0, top, dtype=dtype)
    delta = np.abs(a.astype(np.int64) - b.astype(np.int64))
    expected_sum = int(delta.sum())
    reference = compare(a, b)
    assert reference["sum"] == expected_sum
    assert reference["bit_depth"] == (8 if dtype == np.uint8 else 16)
    assert reference["channels"] == (channels or 1)
    assert reference["max_diff"] == int(delta.max())
    for name, a_layout in layouts(a):
        for other, b_layout in layouts(b):
            assert figures(compare(a_layout, b_layout)) == figures(reference), (name, other)


def test_float_arrays_and_float_tiff(tmp_path):
    rng = np.random.default_rng(5)
    a = rng.random((31, 43, 3), dtype=np.float32) * 2
    b = a.copy()
    b[rng.random((31, 43)) < 0.2] = 0.5
    # The sum is exact in a fixed point of 2^-24: each difference truncated to it, then added.
    fixed = np.floor(np.abs(a - b).astype(np.float64) * 2**24).astype(np.int64)
    got = compare(a, b)
    assert got["bit_depth"] == 32 and got["nan"] == 0 and got["inf"] == 0
    assert got["sum"] == int(fixed.sum()) / 2**24
    assert got["ratio"] == sum(fixed.sum(axis=(0, 1)) / 2**24 / (31 * 43)) / 3
    assert got["max_diff"] == float(np.abs(a - b).max())
    # Strided and big-endian views, and the same pixels as grey float TIFFs (Pillow's mode F).
    assert figures(compare(np.asfortranarray(a), b.astype(">f4"))) == figures(got)
    paths = []
    for name, pixels in (("a", a[:, :, 0]), ("b", b[:, :, 0])):
        path = tmp_path / f"{name}.tiff"
        Image.fromarray(np.ascontiguousarray(pixels)).save(path)
        paths.append(path)
    grey = compare(np.ascontiguousarray(a[:, :, 0]), np.ascontiguousarray(b[:, :, 0]))
    assert figures(compare(*paths)) == figures(grey)
    # NaN in one image is counted apart, never turning the ratio into NaN.
    b[0, 0, 0] = np.nan
    with_nan = compare(a, b)
    assert with_nan["nan"] == 1 and math.isfinite(with_nan["ratio"])
    with pytest.raises(ValueError, match="compare"):
        diffimg.diff(paths[0], paths[1])


def test_array_against_its_png():
    pixels = np.asarray(Image.open(MARIO_CS))
    assert compare(pixels, MARIO_CS)["sum"] == 0
    assert compare(pixels[:, :, :3], MARIO_CS)["channels"] == 4  # RGB against RGBA: promoted


def test_options():
    rgba = np.asarray(Image.open(YANDEX1))
    rgb = np.asarray(Image.open(YANDEX2))
    assert compare(rgba, rgb, ignore_alpha=True)["channels"] == 3
    assert compare(MARIO_CS, YANDEX1, resize=True, ignore_alpha=True)["ratio"] == (
        0.3503192421617232
    )
    with pytest.raises(DiffimgError, match="exceeds the limit"):
        compare(MARIO_CS, MARIO_NODE, max_pixels=1000)


def test_changed_pixels_styles_and_what_should_not_count(tmp_path):
    plain = compare(MARIO_CS, MARIO_NODE, threshold=0.1, backend="cpu")
    aa = compare(MARIO_CS, MARIO_NODE, threshold=0.1, aa=True, backend="cpu")
    assert plain["changed_pixels"] == aa["changed_pixels"] + aa["aa_pixels"]
    assert plain["regions"]["count"] > 0 and "aa_pixels" not in plain
    a = np.zeros((6, 10), np.uint8)
    b = np.full((6, 10), 255, np.uint8)
    left_out = compare(a, b, threshold=0.1, ignore=[(0, 0, 3, 2), (8, 4, 5, 5)])
    assert (left_out["ignored_pixels"], left_out["changed_pixels"]) == (10, 50)
    assert left_out["ratio"] == 1.0
    out = tmp_path / "mask.png"
    compare(a, b, style="mask", diff_color="#00ff80", diff_image=out)
    # Styles write indexed PNGs, which Pillow opens as palette images.
    written = Image.open(out)
    assert written.mode == "P"
    assert np.asarray(written.convert("RGBA"))[0, 0].tolist() == [0, 255, 128, 255]
    union = compare(
        np.zeros((3, 4), np.uint8), np.zeros((5, 6), np.uint8), canvas="union", threshold=0.1
    )
    assert (union["width"], union["height"], union["changed_pixels"]) == (6, 5, 18)
    for bad in (dict(style="sepia"), dict(threshold=2.0), dict(diff_color="red"),
                dict(diff_color="#+f+f+f"), dict(canvas="largest")):
        with pytest.raises(ValueError):
            compare(a, b, **bad)


def test_command_line_options():
    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    b[0, :2] = 200
    assert "over_gate" not in compare(a, b)
    assert compare(a, b, max_ratio=0.05)["over_gate"] is True
    assert compare(a, b, max_ratio=0.5)["over_gate"] is False
    changed = compare(a, b, max_changed=1)
    assert (changed["changed_pixels"], changed["over_gate"]) == (2, True)
    assert compare(a, b, max_changed="12.5%")["over_gate"] is False
    assert compare(a, b, max_diff=199)["over_gate"] is True
    assert compare(a, b, gpu_timeout=2.5, gpu_batch=4, backend="cpu")["ratio"] > 0
    for bad in (dict(max_ratio=-1.0), dict(max_diff=float("nan")), dict(max_changed="101%"),
                dict(gpu_timeout=0.0), dict(gpu_batch=0), dict(gpu_batch=2048)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            compare(a, b, **bad)


def test_diff_image(tmp_path):
    out = tmp_path / "diff.png"
    compare(MARIO_CS, MARIO_NODE, diff_image=out, compression="best")
    written = np.asarray(Image.open(out)).astype(int)
    expected = np.abs(
        np.asarray(Image.open(MARIO_CS)).astype(int) - np.asarray(Image.open(MARIO_NODE))
    )
    assert np.array_equal(written, expected)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        compare(tmp_path / "missing.png", MARIO_CS)
    with pytest.raises(ValueError, match="differ in size"):
        compare(MARIO_CS, YANDEX1)
    with pytest.raises(DiffimgError):
        compare(b"not an image", MARIO_CS)
    with pytest.raises(ValueError, match="uint8, uint16 or float32"):
        compare(np.zeros((4, 4), np.float64), np.zeros((4, 4), np.float64))
    with pytest.raises(ValueError, match="not an image"):
        compare(np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="no pixels"):
        compare(np.zeros((0, 4), np.uint8), np.zeros((0, 4), np.uint8))
    with pytest.raises(ValueError, match="backend"):
        compare(MARIO_CS, MARIO_CS, backend="tpu")
    with pytest.raises(ValueError, match="compression"):
        compare(MARIO_CS, MARIO_CS, compression="zip")
    with pytest.raises(TypeError):
        compare(12, MARIO_CS)
    with pytest.raises(DiffimgError):
        compare(MARIO_CS, MARIO_NODE, diff_image=tmp_path / "no-such-folder" / "diff.png")
    assert issubclass(DiffimgError, Exception)


def test_threads_compare_in_parallel():
    rng = np.random.default_rng(5)
    pairs = [
        (rng.integers(0, 256, (300, 400, 3), dtype=np.uint8),
         rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
        for _ in range(6)
    ]
    alone = [figures(compare(a, b)) for a, b in pairs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda pair: figures(compare(*pair)), pairs))
    assert together == alone


def test_gil_is_released_while_comparing():
    """Another thread runs Python code while a large comparison is under way."""
    rng = np.random.default_rng(9)
    a = rng.integers(0, 256, (3000, 3000, 4), dtype=np.uint8)
    b = rng.integers(0, 256, (3000, 3000, 4), dtype=np.uint8)
    started = threading.Event()

    def run():
        started.set()
        for _ in range(3):
            compare(a, b, backend="cpu")

    worker = threading.Thread(target=run)
    worker.start()
    started.wait()
    steps = 0
    while worker.is_alive():
        steps += 1
    worker.join()
    assert steps > 1000


def test_help_is_useful():
    doc = diffimg.compare.__doc__
    for word in ("path", "bytes", "uint16", "ratio", "bbox", "DiffimgError", "GIL"):
        assert word in doc
    assert "Pillow" in diffimg.diff.__doc__


def test_array_resized_by_another_thread_while_compared(tmp_path):
    """NumPy refuses to resize an array, even with refcheck=False, while a comparison reads
    it with the GIL released: the memory it reads is never freed under it. Run in a child
    process, which a read of freed memory would kill."""
    script = f"""
import threading
import numpy as np
from diffimg import compare

a = np.full((4000, 4000, 4), 7, np.uint8)
b = np.zeros((4000, 4000, 4), np.uint8)
result = {{}}
worker = threading.Thread(target=lambda: result.update(compare(a, b, diff_image={str(tmp_path / "d.png")!r})))
worker.start()
refused = 0
while worker.is_alive():
    try:
        a.resize((1, 1), refcheck=False)
        break
    except ValueError:
        refused += 1
worker.join()
print(result["ratio"], refused)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    ratio, refused = run.stdout.split()
    assert abs(float(ratio) - 7 / 255) < 1e-12 and int(refused) > 0
