"""FLIP and SSIM through compare(), held against the reference tools run here on the same
inputs: NVIDIA's flip-evaluator 1.7 (the mean within 1e-5 of the exact mean of its map, 99.9%
of the pixels within 1e-4) and scikit-image 0.26's structural_similarity (the mean within 1e-6,
per channel too)."""

import flip_evaluator
import numpy as np
import pytest
import skimage.metrics as skimage_metrics
from PIL import Image

from conftest import MARIO_CS, MARIO_NODE, YANDEX1, YANDEX2
from diffimg import DiffimgError, compare


def rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


def reference_flip(a, b, dynamic_range="LDR", **parameters):
    """flip-evaluator's map (float64) and the parameters it used, for arrays in [0, 1] (LDR)
    or linear radiance (HDR)."""
    flip_map, _, used = flip_evaluator.evaluate(
        np.ascontiguousarray(a, dtype=np.float32),
        np.ascontiguousarray(b, dtype=np.float32),
        dynamic_range,
        applyMagma=False,
        parameters=parameters,
    )
    return flip_map[:, :, 0].astype(np.float64), used


def assert_flip_close(result, reference):
    ours = result["flip_map"].astype(np.float64)
    assert ours.shape == reference.shape
    assert abs(result["flip"]["mean"] - reference.mean()) < 1e-5
    assert abs(result["flip"]["mean"] - ours.mean()) < 1e-12
    close = np.abs(ours - reference) <= 1e-4
    assert close.mean() >= 0.999, np.abs(ours - reference).max()


@pytest.mark.parametrize("backend", ["cpu", "gpu"])
def test_ldr_flip_matches_the_reference(backend, gpu_or_skip):
    if backend == "gpu":
        gpu_or_skip()
    result = compare(MARIO_CS, MARIO_NODE, flip=True, flip_map=True, backend=backend)
    reference, used = reference_flip(rgb(MARIO_CS) / 255.0, rgb(MARIO_NODE) / 255.0)
    assert_flip_close(result, reference)
    assert result["flip"]["ppd"] == pytest.approx(used["ppd"], abs=1e-9)
    assert result["flip"]["dynamic_range"] == "ldr"
    assert result["flip_map"].dtype == np.float32


def test_sixteen_bit_flip_divides_by_65535():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 65536, (40, 56, 3), dtype=np.uint16)
    b = np.clip(a.astype(np.int64) + rng.integers(-3000, 3000, a.shape), 0, 65535)
    b = b.astype(np.uint16)
    result = compare(a, b, flip=True, flip_map=True, backend="cpu")
    reference, _ = reference_flip(a / 65535.0, b / 65535.0)
    assert_flip_close(result, reference)


def test_observer_settings_match_the_reference():
    a, b = rgb(YANDEX1)[:200, :300], rgb(YANDEX2)[:200, :300]
    result = compare(a, b, ppd=30.0, flip_map=True, backend="cpu")
    reference, used = reference_flip(a / 255.0, b / 255.0, ppd=30.0)
    assert_flip_close(result, reference)
    result = compare(a, b, viewing=(0.5, 1920, 0.6), flip_map=True, backend="cpu")
    reference, used = reference_flip(a / 255.0, b / 255.0, vc=[0.5, 1920.0, 0.6])
    assert result["flip"]["ppd"] == pytest.approx(used["ppd"], rel=1e-6)
    assert_flip_close(result, reference)


def hdr_pair():
    rng = np.random.default_rng(9)
    base = np.exp(rng.normal(0.0, 1.5, (48, 64, 3))).astype(np.float32)
    test = (base * np.exp(rng.normal(0.0, 0.2, base.shape))).astype(np.float32)
    return base, test


@pytest.mark.parametrize("tonemapper", ["aces", "hable", "reinhard"])
def test_hdr_flip_matches_the_reference(tonemapper):
    a, b = hdr_pair()
    result = compare(a, b, flip=True, tonemapper=tonemapper, flip_map=True, backend="cpu")
    reference, used = reference_flip(a, b, "HDR", tonemapper=tonemapper)
    assert_flip_close(result, reference)
    flip = result["flip"]
    assert flip["dynamic_range"] == "hdr" and flip["tonemapper"] == tonemapper
    assert flip["exposures"]["start"] == pytest.approx(used["startExposure"], abs=1e-6)
    assert flip["exposures"]["stop"] == pytest.approx(used["stopExposure"], abs=1e-6)
    assert flip["exposures"]["count"] == used["numExposures"]


def test_given_exposures_match_the_reference():
    a, b = hdr_pair()
    result = compare(a, b, exposure=(-2.0, 3.0), exposures=4, flip_map=True, backend="cpu")
    reference, used = reference_flip(
        a, b, "HDR", startExposure=-2.0, stopExposure=3.0, numExposures=4
    )
    assert_flip_close(result, reference)
    assert result["flip"]["exposures"] == {"start": -2.0, "stop": 3.0, "count": 4}


def test_black_reference_has_no_exposure_range():
    a = np.zeros((16, 16, 3), np.float32)
    with pytest.raises(DiffimgError, match="--exposure"):
        compare(a, a + 0.5, flip=True)


def test_magma_map_is_the_reference_tools(tmp_path):
    path = tmp_path / "map.png"
    compare(MARIO_CS, MARIO_NODE, style="flip", diff_image=str(path), backend="cpu")
    ours = np.asarray(Image.open(path).convert("RGB"))
    magma, _, _ = flip_evaluator.evaluate(
        rgb(MARIO_CS) / 255.0, rgb(MARIO_NODE) / 255.0, "LDR", applyMagma=True
    )
    theirs = np.round(magma * 255.0).astype(np.uint8)
    # The same colour wherever the two maps' values pick the same entry.
    assert ours.shape == theirs.shape
    assert (ours == theirs).all(axis=2).mean() >= 0.999


def reference_ssim(a, b, data_range):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim == 2:
        a, b = a[:, :, None], b[:, :, None]
    channels = [
        skimage_metrics.structural_similarity(
            a[:, :, c], b[:, :, c], gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, data_range=data_range,
        )
        for c in range(a.shape[2])
    ]
    whole = skimage_metrics.structural_similarity(
        a, b, channel_axis=2, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=data_range,
    )
    return whole, channels


@pytest.mark.parametrize("backend", ["cpu", "gpu"])
def test_ssim_matches_scikit_image(backend, gpu_or_skip):
    if backend == "gpu":
        gpu_or_skip()
    result = compare(YANDEX1, YANDEX2, ssim=True, backend=backend)["ssim"]
    whole, channels = reference_ssim(rgb(YANDEX1), rgb(YANDEX2), 255)
    assert abs(result["mean"] - whole) < 1e-6
    assert np.allclose(result["channels"], channels, atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", ["grey8", "rgba16", "float"])
def test_ssim_of_every_sample_type(dtype):
    rng = np.random.default_rng(2)
    if dtype == "grey8":
        a = rng.integers(0, 256, (37, 45), dtype=np.uint8)
        b = np.clip(a.astype(int) + rng.integers(-20, 20, a.shape), 0, 255).astype(np.uint8)
        colour, data_range = (a, b), 255
    elif dtype == "rgba16":
        a = rng.integers(0, 65536, (30, 40, 4), dtype=np.uint16)
        b = np.clip(a.astype(int) + rng.integers(-900, 900, a.shape), 0, 65535)
        b = b.astype(np.uint16)
        colour, data_range = (a[:, :, :3], b[:, :, :3]), 65535
    else:
        a = rng.random((30, 40, 3), dtype=np.float32)
        b = (a + rng.normal(0, 0.05, a.shape)).astype(np.float32)
        colour, data_range = (a, b), 1.0
    result = compare(a, b, ssim=True, backend="cpu")["ssim"]
    whole, channels = reference_ssim(*colour, data_range)
    assert abs(result["mean"] - whole) < 1e-6
    assert np.allclose(result["channels"], channels, atol=1e-6, rtol=0)


def test_gates_and_bad_values():
    result = compare(MARIO_CS, MARIO_NODE, max_flip=["p99=0.01", 1.0], min_ssim=-1.0)
    assert result["over_gate"] is True
    assert "99" in result["flip"]["percentiles"] and "ssim" in result
    assert compare(MARIO_CS, MARIO_NODE, max_flip=1.0)["over_gate"] is False
    for bad in [{"ppd": 0.0}, {"max_flip": "p100=0.1"}, {"min_ssim": 3.0},
                {"tonemapper": "filmic"}, {"exposures": 0}, {"exposure": (2.0, 1.0)}]:
        with pytest.raises(ValueError):
            compare(MARIO_CS, MARIO_NODE, **bad)
    tiny = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(DiffimgError, match="11x11"):
        compare(tiny, tiny, ssim=True)
