"""Shared fixtures: the reference images (tests/fixtures/ at the repository root) and a
reference implementation of the original diffimg 0.3.0's diff() on Pillow, to hold this
module's numbers against."""

import os
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


def fixture(name: str) -> str:
    return str(FIXTURES / name)


MARIO_CS = fixture("mario-circle-cs.png")  # RGBA 381x480
MARIO_NODE = fixture("mario-circle-node.png")  # RGBA 381x480
MARIO_DIFF = fixture("mario-diff-raw.png")  # diffimg's diff image of the mario pair
YANDEX1 = fixture("yandex1.png")  # RGBA 1366x768
YANDEX2 = fixture("yandex2.png")  # RGB 1366x768
BLACK = fixture("black.png")  # RGB 10x10
WHITE = fixture("white.png")  # RGB 10x10


def pillow_diff(im1_file, im2_file, ignore_alpha=False):
    """The ratio the original diffimg computes, step by step with Pillow: image 2 resized to
    image 1's size with Pillow's default filter, the per-channel difference, alpha set to 255
    when ignoring it, the channel means added up over channels * 255."""
    im1, im2 = Image.open(im1_file), Image.open(im2_file)
    if im1.mode != im2.mode:
        raise ValueError("modes differ")
    im2 = im2.resize((im1.width, im1.height))
    difference = ImageChops.difference(im1, im2)
    if ignore_alpha:
        difference.putalpha(255)
    means = ImageStat.Stat(difference).mean
    channels = len(means) - (1 if ignore_alpha and len(means) == 4 else 0)
    return sum(means[:channels]) / (channels * 255)


@pytest.fixture
def in_tmp(tmp_path):
    """Runs the test in a temporary folder, where diff_img.png lands by default."""
    before = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(before)


@pytest.fixture
def gpu_or_skip():
    """Call it to run a test on the GPU engine: skipped where no adapter is found, unless
    DIFFIMG_REQUIRE_GPU=1 asks for one (then its absence fails)."""

    def check():
        import diffimg

        try:
            diffimg.compare(BLACK, WHITE, backend="gpu")
        except diffimg.DiffimgError as e:
            if os.environ.get("DIFFIMG_REQUIRE_GPU") == "1":
                raise
            pytest.skip(f"no GPU adapter: {e}")

    return check
