//! The Python module `diffimg._diffimg` (re-exported by the `diffimg` package): diffimg's
//! `diff()` and a `compare()` returning every figure. Comparisons run with the GIL released,
//! and every failure is a Python exception, panics included.

mod array;
mod dropin;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use pyo3::create_exception;
use pyo3::exceptions::{
    PyException, PyFileNotFoundError, PyOSError, PyPermissionError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};

use crate::compare::{compare_sources, open_both};
use crate::decode::{self, PixelLimits, RowSource};
use crate::engine::choice::Backend;
use crate::error::Error;
use crate::ignore::Rect;
use crate::metrics::flip::{FlipGate, FlipOptions};
use crate::options::{Canvas, Options};
use crate::output::Compression;
use crate::perception::PerceptualOptions;
use crate::report::{ChangedGate, Gates, Report};
use crate::style::{Style, parse_colour};
use array::ArrayRows;
use dropin::DiffError;

create_exception!(
    _diffimg,
    DiffimgError,
    PyException,
    "A comparison failed: an input is not a readable image, a diff image cannot be written, \
     an image is over the pixel limit, or the GPU engine failed."
);

/// The name diffimg writes its diff image to when none is given.
const DIFF_IMG_FILE: &str = "diff_img.png";

#[pymodule]
fn _diffimg(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(diff, m)?)?;
    m.add_function(wrap_pyfunction!(compare_json, m)?)?;
    m.add("DiffimgError", m.py().get_type::<DiffimgError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// diffimg's `diff()`; see the package's docstring.
#[pyfunction]
#[pyo3(signature = (im1_file, im2_file, delete_diff_file=false, diff_img_file=None, ignore_alpha=false))]
fn diff(
    py: Python<'_>,
    im1_file: &Bound<'_, PyAny>,
    im2_file: &Bound<'_, PyAny>,
    delete_diff_file: bool,
    diff_img_file: Option<PathBuf>,
    ignore_alpha: bool,
) -> PyResult<f64> {
    let target = diff_img_file
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from(DIFF_IMG_FILE));
    let diff_image = (!delete_diff_file).then_some(target);
    let (a, b) = (image(im1_file)?, image(im2_file)?);
    let outcome = py.detach(|| {
        catch_unwind(AssertUnwindSafe(|| {
            dropin::diff(a, b, diff_image, ignore_alpha)
        }))
    });
    match outcome {
        Ok(Ok(ratio)) => Ok(ratio),
        Ok(Err(DiffError::Value(message))) => Err(PyValueError::new_err(message)),
        Ok(Err(DiffError::Os(message))) => Err(PyOSError::new_err(message)),
        Ok(Err(DiffError::Crate(error))) => Err(to_python(error)),
        Err(_) => Err(DiffimgError::new_err(
            "internal error: the comparison panicked",
        )),
    }
}

/// What `diff()` reads: a path (str or os.PathLike), or a file object read to its end, as
/// Pillow's `Image.open` takes both. A file object is named by its `str()` in messages.
fn image(object: &Bound<'_, PyAny>) -> PyResult<dropin::Image> {
    if let Ok(name) = object.extract::<PathBuf>() {
        return Ok(dropin::Image {
            name,
            contents: None,
        });
    }
    if object.hasattr("read")? {
        let name = PathBuf::from(object.str()?.to_string());
        let read = object.call_method0("read")?;
        let text = read.is_instance_of::<PyString>();
        let contents: Vec<u8> = (!text).then(|| read.extract().ok()).flatten().ok_or_else(|| {
            let got = read
                .get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string());
            PyTypeError::new_err(format!(
                "{}: read() returned {got}, expected bytes (open the file in binary mode, \"rb\")",
                name.display()
            ))
        })?;
        return Ok(dropin::Image {
            name,
            contents: Some(contents),
        });
    }
    Err(PyTypeError::new_err(format!(
        "expected a path or a file object, got {}",
        object.get_type().name()?
    )))
}

/// The comparison behind `diffimg.compare()`, which turns its JSON into a dict: the JSON, and
/// with a gate whether the comparison is over it. The options are the command line's, with the
/// same names and checks.
#[pyfunction]
#[pyo3(signature = (a, b, ignore_alpha=false, resize=false, backend="auto", diff_image=None, max_pixels=None, compression="fast", threshold=None, aa=false, style="raw", diff_color="#ff0000", ignore=Vec::new(), mask=None, canvas="same", gpu_timeout=None, gpu_batch=None, max_ratio=None, max_changed=None, max_diff=None, flip=false, ssim=false, ppd=None, viewing=None, exposure=None, exposures=None, tonemapper=None, max_flip=Vec::new(), min_ssim=None, flip_map=false))]
#[allow(clippy::too_many_arguments)]
fn compare_json(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    ignore_alpha: bool,
    resize: bool,
    backend: &str,
    diff_image: Option<PathBuf>,
    max_pixels: Option<u64>,
    compression: &str,
    threshold: Option<f64>,
    aa: bool,
    style: &str,
    diff_color: &str,
    ignore: Vec<(u32, u32, u32, u32)>,
    mask: Option<PathBuf>,
    canvas: &str,
    gpu_timeout: Option<f64>,
    gpu_batch: Option<u64>,
    max_ratio: Option<f64>,
    max_changed: Option<&Bound<'_, PyAny>>,
    max_diff: Option<f64>,
    flip: bool,
    ssim: bool,
    ppd: Option<f64>,
    viewing: Option<(f64, f64, f64)>,
    exposure: Option<(f32, f32)>,
    exposures: Option<u32>,
    tonemapper: Option<&str>,
    max_flip: Vec<String>,
    min_ssim: Option<f64>,
    flip_map: bool,
) -> PyResult<(String, Option<bool>, Option<Vec<u8>>)> {
    let checked = |name: &str, outcome: Result<f64, String>| {
        outcome.map_err(|e| PyValueError::new_err(format!("{name} {e}")))
    };
    let gates = Gates {
        max_ratio: max_ratio
            .map(|v| checked("max_ratio", Gates::check(v)))
            .transpose()?,
        max_changed: max_changed
            .map(|v| named::<ChangedGate>("max_changed", &v.str()?.to_string()))
            .transpose()?,
        max_diff: max_diff
            .map(|v| checked("max_diff", Gates::check(v)))
            .transpose()?,
        max_flip: max_flip
            .iter()
            .map(|v| named::<FlipGate>("max_flip", v))
            .collect::<PyResult<_>>()?,
        min_ssim: match min_ssim {
            Some(v) if !(-1.0..=1.0).contains(&v) => {
                return Err(PyValueError::new_err("min_ssim must be from -1 to 1"));
            }
            v => v,
        },
    };
    let flip_options = flip_options(
        flip || flip_map || !gates.max_flip.is_empty(),
        ppd,
        viewing,
        exposure,
        exposures,
        tonemapper,
        flip_map,
        &gates,
    )?;
    let threshold = threshold
        .map(|t| checked("threshold", PerceptualOptions::check_threshold(t)))
        .transpose()?;
    let mut options = Options {
        ignore_alpha,
        resize,
        backend: named::<Backend>("backend", backend)?,
        diff_image,
        compression: named::<Compression>("compression", compression)?,
        max_pixels: max_pixels.map(PixelLimits::all).unwrap_or_default(),
        style: named::<Style>("style", style)?,
        diff_colour: parse_colour(diff_color).map_err(PyValueError::new_err)?,
        ignore: ignore
            .into_iter()
            .map(|(x, y, width, height)| Rect {
                x,
                y,
                width,
                height,
            })
            .collect(),
        mask,
        canvas: named::<Canvas>("canvas", canvas)?,
        ..Options::default()
    };
    options.count_changed(threshold, aa, &gates);
    options.flip = flip_options;
    options.ssim = ssim || gates.min_ssim.is_some();
    if let Some(seconds) = gpu_timeout {
        let set = options.set_gpu_timeout(seconds);
        set.map_err(|e| PyValueError::new_err(format!("gpu_timeout {e}")))?;
    }
    if let Some(mib) = gpu_batch {
        let set = options.set_gpu_batch(mib);
        set.map_err(|e| PyValueError::new_err(format!("gpu_batch {e}")))?;
    }
    let gated = gates != Gates::default();
    let inputs = [Input::new(a, "a")?, Input::new(b, "b")?];
    let outcome = py.detach(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let [a, b] = inputs;
            let names = [a.name(1), b.name(2)];
            let (limits, names_ref) = (options.max_pixels, [&*names[0], &*names[1]]);
            if let (Input::Array(a), Input::Array(b)) = (&a, &b)
                && let Some(outcome) = array::compare_in_place(a, b, names_ref, &options)
            {
                return outcome;
            }
            // Image 1 may be read again (HDR-FLIP's exposures): a view of an array, a copy of
            // bytes, or the file opened again.
            let again = options.flip_wanted().is_some().then(|| a.again());
            let reopen = |again: &Again| again.reopen(names_ref[0], limits);
            let reopen = again.as_ref().map(|again| move || reopen(again));
            // Both decode at once, as files compared by the command do.
            let [source_a, source_b] = open_both(
                names_ref,
                || a.open(names_ref[0], limits),
                || b.open(names_ref[1], limits),
            );
            let start = std::time::Instant::now();
            let sources = [source_a, source_b];
            let reopen = reopen.as_ref().map(|r| r as crate::metrics::Reopen);
            compare_sources(names_ref, sources, reopen, &options, start)
        }))
    });
    match outcome {
        Ok(Ok(mut report)) => {
            let map = flip_map_bytes(&mut report);
            let over = gated.then(|| gates.exceeded(&report));
            Ok((report.to_json(), over, map))
        }
        Ok(Err(error)) => Err(to_python(error)),
        Err(_) => Err(DiffimgError::new_err(
            "internal error: the comparison panicked",
        )),
    }
}

/// A value of one of the library's named types, as the command line parses it; a bad one is a
/// ValueError that names the option.
fn named<T: std::str::FromStr<Err = String>>(option: &str, value: &str) -> PyResult<T> {
    value
        .parse()
        .map_err(|e| PyValueError::new_err(format!("{option}: {e}")))
}

/// FLIP's options from `compare()`'s arguments, checked as the command line checks them;
/// `None` unless `wanted` or an observer or HDR option is given.
#[allow(clippy::too_many_arguments)]
fn flip_options(
    wanted: bool,
    ppd: Option<f64>,
    viewing: Option<(f64, f64, f64)>,
    exposure: Option<(f32, f32)>,
    exposures: Option<u32>,
    tonemapper: Option<&str>,
    keep_map: bool,
    gates: &Gates,
) -> PyResult<Option<FlipOptions>> {
    let given = ppd.is_some()
        || viewing.is_some()
        || exposure.is_some()
        || exposures.is_some()
        || tonemapper.is_some();
    if !(wanted || given) {
        return Ok(None);
    }
    let bad = |name: &str, e: String| PyValueError::new_err(format!("{name} {e}"));
    let ppd = match (ppd, viewing) {
        (Some(_), Some(_)) => return Err(PyValueError::new_err("give ppd or viewing, not both")),
        (Some(p), None) => Some(FlipOptions::check_ppd(p).map_err(|e| bad("ppd", e))?),
        (None, Some((distance, pixels, width))) => {
            if ![distance, pixels, width]
                .iter()
                .all(|v| v.is_finite() && *v > 0.0)
            {
                return Err(bad(
                    "viewing",
                    "values must be finite and more than 0".into(),
                ));
            }
            let ppd = FlipOptions::ppd_from_viewing(distance, pixels, width);
            Some(FlipOptions::check_ppd(ppd).map_err(|e| bad("viewing", e))?)
        }
        (None, None) => None,
    };
    if let Some((start, stop)) = exposure
        && !(start.is_finite() && stop.is_finite() && start <= stop)
    {
        return Err(bad("exposure", "must be finite, start at most stop".into()));
    }
    if exposures == Some(0) {
        return Err(bad("exposures", "must be 1 or more".into()));
    }
    let defaults = FlipOptions::default();
    Ok(Some(FlipOptions {
        ppd: ppd.unwrap_or(defaults.ppd),
        exposure,
        exposures,
        tonemapper: match tonemapper {
            Some(name) => named("tonemapper", name)?,
            None => defaults.tonemapper,
        },
        keep_map,
        percentiles: gates.flip_percentiles(),
    }))
}

/// The kept FLIP map, taken out of `report`, as native-endian f32 bytes.
fn flip_map_bytes(report: &mut Report) -> Option<Vec<u8>> {
    let map = report.flip.as_mut()?.map.take()?;
    Some(bytemuck::cast_slice(&map).to_vec())
}

/// One of `compare()`'s inputs.
enum Input {
    Path(PathBuf),
    Encoded(Vec<u8>),
    Array(ArrayRows),
}

impl Input {
    fn new(object: &Bound<'_, PyAny>, what: &str) -> PyResult<Input> {
        if let Ok(bytes) = object.cast::<PyBytes>() {
            return Ok(Input::Encoded(bytes.as_bytes().to_vec()));
        }
        if let Ok(bytes) = object.cast::<PyByteArray>() {
            return Ok(Input::Encoded(bytes.to_vec()));
        }
        if let Ok(path) = object.extract::<PathBuf>() {
            return Ok(Input::Path(path));
        }
        let py = object.py();
        let buffer = || {
            py.import("builtins")?
                .getattr("memoryview")?
                .call1((object,))
        };
        if object.hasattr("__array_interface__")? || buffer().is_ok() {
            return ArrayRows::new(object, what).map(Input::Array);
        }
        Err(PyTypeError::new_err(format!(
            "{what}: expected a path, bytes of an encoded image, or an array; got {}",
            object.get_type().name()?
        )))
    }

    /// What opens this input again from its start.
    fn again(&self) -> Again {
        match self {
            Input::Path(path) => Again::Path(path.clone()),
            Input::Encoded(bytes) => Again::Encoded(bytes.clone()),
            Input::Array(rows) => Again::Array(rows.view()),
        }
    }

    /// What errors call this input, the `n`th.
    fn name(&self, n: u8) -> PathBuf {
        match self {
            Input::Path(path) => path.clone(),
            Input::Encoded(_) | Input::Array(_) => PathBuf::from(format!("image {n}")),
        }
    }

    fn open(self, name: &Path, limits: PixelLimits) -> Result<Box<dyn RowSource>, Error> {
        match self {
            Input::Path(path) => decode::open(&path, limits),
            Input::Encoded(bytes) => decode::from_stream(name, std::io::Cursor::new(bytes), limits),
            Input::Array(rows) => {
                let header = rows.header();
                PixelLimits::check(name, header.width, header.height, limits.streamed)?;
                Ok(Box::new(rows))
            }
        }
    }
}

/// An input as it can be opened again.
enum Again {
    Path(PathBuf),
    Encoded(Vec<u8>),
    /// A view of the array the comparison holds.
    Array(array::ArrayRows),
}

impl Again {
    fn reopen(&self, name: &Path, limits: PixelLimits) -> Result<Box<dyn RowSource>, Error> {
        match self {
            Again::Path(path) => decode::open(path, limits),
            Again::Encoded(bytes) => {
                decode::from_stream(name, std::io::Cursor::new(bytes.clone()), limits)
            }
            Again::Array(rows) => Ok(Box::new(rows.view())),
        }
    }
}

/// The Python exception for `error`: FileNotFoundError and PermissionError for inputs that
/// cannot be opened, ValueError for images that differ in size, DiffimgError for the rest.
fn to_python(error: Error) -> PyErr {
    let message = error.to_string();
    match &error {
        Error::Read { cause, .. } if cause.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(message)
        }
        Error::Read { cause, .. } if cause.kind() == std::io::ErrorKind::PermissionDenied => {
            PyPermissionError::new_err(message)
        }
        Error::SizeMismatch { .. } => PyValueError::new_err(message),
        _ => DiffimgError::new_err(message),
    }
}
