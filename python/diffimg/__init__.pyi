import os
from typing import Any, BinaryIO, Dict, Optional, Sequence, Tuple, TypedDict, Union

from typing_extensions import NotRequired

_Path = Union[str, "os.PathLike[str]"]

__version__: str

class DiffimgError(Exception):
    """A comparison failed: an unreadable image, an unwritable diff image, an image over the
    pixel limit, or a GPU failure."""

class BBox(TypedDict):
    x: int
    y: int
    width: int
    height: int

class Engine(TypedDict, total=False):
    kind: str
    adapter: str
    backend: str
    gpu_bands: int
    cpu_bands: int

class MaxDiffAt(TypedDict):
    x: int
    y: int
    channel: int

class At(TypedDict):
    x: int
    y: int

class Exposures(TypedDict):
    start: float
    stop: float
    count: int

class Flip(TypedDict):
    mean: float
    min: float
    min_at: Optional[At]
    max: float
    max_at: Optional[At]
    percentiles: Dict[str, float]
    histogram: list[int]
    ppd: float
    dynamic_range: str
    exposures: NotRequired[Exposures]
    tonemapper: NotRequired[str]

class Ssim(TypedDict):
    mean: float
    channels: list[float]
    min: float
    min_at: Optional[At]

class Figures(TypedDict):
    ratio: float
    percent: float
    width: int
    height: int
    channels: int
    bit_depth: int
    mean_abs_diff: list[float]
    sum: Union[int, float]
    differing_pixels: int
    max_diff: Union[int, float]
    max_diff_at: Optional[MaxDiffAt]
    nan: NotRequired[int]
    inf: NotRequired[int]
    rms: float
    psnr: Optional[float]
    bbox: Optional[BBox]
    flip: NotRequired[Flip]
    ssim: NotRequired[Ssim]
    flip_map: NotRequired[Any]
    engine: Engine
    elapsed_ms: float
    over_gate: NotRequired[bool]

def diff(
    im1_file: Union[_Path, BinaryIO],
    im2_file: Union[_Path, BinaryIO],
    delete_diff_file: bool = False,
    diff_img_file: Optional[_Path] = None,
    ignore_alpha: bool = False,
) -> float:
    """The difference ratio of two images, as the original diffimg 0.3.0 computes it."""

def compare(
    a: Any,
    b: Any,
    *,
    ignore_alpha: bool = False,
    resize: bool = False,
    backend: str = "auto",
    diff_image: Optional[_Path] = None,
    max_pixels: Optional[int] = None,
    compression: str = "fast",
    threshold: Optional[float] = None,
    aa: bool = False,
    style: str = "raw",
    diff_color: str = "#ff0000",
    ignore: Sequence[Tuple[int, int, int, int]] = (),
    mask: Optional[_Path] = None,
    canvas: str = "same",
    gpu_timeout: Optional[float] = None,
    gpu_batch: Optional[int] = None,
    max_ratio: Optional[float] = None,
    max_changed: Optional[Union[int, str]] = None,
    max_diff: Optional[float] = None,
    flip: bool = False,
    ssim: bool = False,
    ppd: Optional[float] = None,
    viewing: Optional[Tuple[float, float, float]] = None,
    exposure: Optional[Tuple[float, float]] = None,
    exposures: Optional[int] = None,
    tonemapper: Optional[str] = None,
    max_flip: Union[None, float, str, Sequence[Union[float, str]]] = None,
    min_ssim: Optional[float] = None,
    flip_map: bool = False,
) -> Figures:
    """Every figure of a comparison of two paths, encoded images or uint8/uint16/float32 arrays."""
