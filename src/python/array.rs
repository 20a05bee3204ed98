//! Arrays as images: any object with NumPy's `__array_interface__` (or that `numpy.asarray`
//! turns into one, such as buffer-protocol objects), H x W or H x W x C with C from 1 to 4,
//! uint8 or uint16, any strides. Rows are read from the array's own memory as the comparison
//! asks for them, so the array is never copied whole. (The stable ABI for Python 3.9 has no
//! buffer API, NumPy's array interface gives the same pointer, shape and strides.) While rows
//! are read, with the GIL released, the array and every array it is a view of are held by weak
//! references, with which NumPy refuses to resize them, `refcheck=False` or not: the memory read
//! is never freed or moved under the comparison.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use std::path::Path;
use std::time::Instant;

use crate::decode::{Header, PixelLimits, RowSource};
use crate::engine::EngineInfo;
use crate::engine::choice::Backend;
use crate::engine::cpu::CpuEngine;
use crate::error::Error;
use crate::options::Options;
use crate::pixel::{Depth, Layout, Samples};
use crate::report::Report;

/// An array's rows, read in place. Holds a reference to the array, which keeps its memory.
pub struct ArrayRows {
    /// Keeps the array, and so the memory at `data`, alive; `None` for a view of another
    /// `ArrayRows`, which keeps it.
    _owner: Option<Py<PyAny>>,
    /// Weak references to the array and the arrays under it, which keep them from resizing.
    _pins: Vec<Py<PyAny>>,
    header: Header,
    /// Address of the first sample.
    data: usize,
    /// Byte strides of rows, pixels and channels.
    strides: [isize; 3],
    /// Samples stored in the other byte order than this machine's.
    swapped: bool,
    next_row: u32,
}

// SAFETY: the array's memory stays valid while `_owner` holds it, and is only read.
unsafe impl Send for ArrayRows {}

impl ArrayRows {
    /// Reads `object`'s array interface; `what` names it in errors ("a", "b").
    pub fn new(object: &Bound<'_, PyAny>, what: &str) -> PyResult<ArrayRows> {
        let py = object.py();
        let object = if object.hasattr("__array_interface__")? {
            object.clone()
        } else {
            let numpy = py.import("numpy").map_err(|_| {
                PyValueError::new_err(format!(
                    "{what}: not a path, bytes or an array (arrays other than NumPy's need NumPy)"
                ))
            })?;
            numpy.call_method1("asarray", (object,))?
        };
        let pins = pin(&object)?;
        let interface = object.getattr("__array_interface__")?;
        let interface = interface.cast::<PyDict>()?;
        let get = |key: &str| -> PyResult<Bound<'_, PyAny>> {
            interface.get_item(key)?.ok_or_else(|| {
                PyValueError::new_err(format!("{what}: array interface without {key:?}"))
            })
        };
        let shape: Vec<usize> = get("shape")?.extract()?;
        let typestr: String = get("typestr")?.extract()?;
        let data = get("data")?;
        let data = data.cast::<PyTuple>()?;
        let address: usize = data.get_item(0)?.extract()?;
        let bad = |why: String| PyValueError::new_err(format!("{what}: {why}"));
        let (depth, swapped) = match typestr.as_str() {
            "|u1" | "<u1" | ">u1" => (Depth::Eight, false),
            "<u2" => (Depth::Sixteen, cfg!(target_endian = "big")),
            ">u2" => (Depth::Sixteen, cfg!(target_endian = "little")),
            "<f4" => (Depth::Float, cfg!(target_endian = "big")),
            ">f4" => (Depth::Float, cfg!(target_endian = "little")),
            other => {
                return Err(bad(format!(
                    "arrays of {other} are not images: use uint8, uint16 or float32"
                )));
            }
        };
        let (height, width, channels) = match shape[..] {
            [h, w] => (h, w, 1),
            [h, w, c] if (1..=4).contains(&c) => (h, w, c),
            _ => {
                return Err(bad(format!(
                    "array of shape {shape:?} is not an image: use H x W or H x W x C, C from 1 to 4"
                )));
            }
        };
        let too_big = |n: usize| u32::try_from(n).ok().filter(|&n| n > 0);
        let (Some(w), Some(h)) = (too_big(width), too_big(height)) else {
            return Err(bad(format!(
                "array of shape {shape:?} has no pixels or too many"
            )));
        };
        let item = depth.bits() as usize / 8;
        let strides: Vec<isize> = match interface.get_item("strides")? {
            Some(s) if !s.is_none() => s.extract()?,
            _ => {
                // C order: the last axis is contiguous.
                let item = item as isize;
                let pixel = item * channels as isize;
                match shape.len() {
                    2 => vec![pixel * width as isize, pixel],
                    _ => vec![pixel * width as isize, pixel, item],
                }
            }
        };
        let strides = match strides[..] {
            [row, pixel] => [row, pixel, 0],
            [row, pixel, channel] => [row, pixel, channel],
            _ => return Err(bad("strides do not match the shape".into())),
        };
        let layout = Layout::new(channels as u8, depth);
        Ok(ArrayRows {
            _owner: Some(object.unbind()),
            _pins: pins,
            header: Header {
                width: w,
                height: h,
                layout,
            },
            data: address,
            strides,
            swapped,
            next_row: 0,
        })
    }

    /// The same rows from the first, for as long as `self` lives: the caller keeps `self`
    /// alive while the view is read.
    pub fn view(&self) -> ArrayRows {
        ArrayRows {
            _owner: None,
            _pins: Vec::new(),
            next_row: 0,
            ..*self
        }
    }

    /// Address of sample `c` of pixel `x` in row `y`.
    fn at(&self, y: u32, x: usize, c: usize) -> *const u8 {
        let [row, pixel, channel] = self.strides;
        let offset = y as isize * row + x as isize * pixel + c as isize * channel;
        (self.data as isize + offset) as *const u8
    }

    /// All the array's samples, when they lie one after another in memory in rows from the
    /// first, in this machine's byte order.
    fn whole(&self) -> Option<&[u8]> {
        let row_bytes = self.header.width as usize * self.header.layout.bytes_per_pixel();
        let rows_adjacent = self.strides[0] == row_bytes as isize;
        if !(self.rows_contiguous() && rows_adjacent) || self.swapped {
            return None;
        }
        let len = row_bytes * self.header.height as usize;
        // SAFETY: `len` bytes from the first sample are the array's, which `_owner` keeps.
        Some(unsafe { std::slice::from_raw_parts(self.data as *const u8, len) })
    }

    /// Whether a row's samples lie one after another in memory.
    fn rows_contiguous(&self) -> bool {
        let item =
            self.header.layout.bytes_per_pixel() as isize / self.header.layout.channels as isize;
        let channels = self.header.layout.channels as isize;
        (channels == 1 || self.strides[2] == item) && self.strides[1] == item * channels
    }
}

/// How deep `pin` follows `base`: far deeper than views of views go.
const MAX_BASES: usize = 64;

/// Weak references to `object` and to each object under it (its `base`, and so on down), those
/// that take one: NumPy does not resize an array that has weak references.
fn pin<'py>(object: &Bound<'py, PyAny>) -> PyResult<Vec<Py<PyAny>>> {
    let weak = object.py().import("weakref")?.getattr("ref")?;
    let under = |o: &Bound<'py, PyAny>| o.getattr("base").ok().filter(|base| !base.is_none());
    let chain = std::iter::successors(Some(object.clone()), under).take(MAX_BASES);
    Ok(chain
        .filter_map(|o| weak.call1((&o,)).ok().map(Bound::unbind))
        .collect())
}

impl RowSource for ArrayRows {
    fn header(&self) -> Header {
        self.header
    }

    fn read_rows(&mut self, rows: u32, dst: &mut Samples) -> Result<(), Error> {
        let (width, channels) = (
            self.header.width as usize,
            self.header.layout.channels as usize,
        );
        let row_len = width * channels;
        dst.reset(self.header.layout.depth, rows as usize * row_len);
        let contiguous = self.rows_contiguous();
        let first = self.next_row;
        match dst {
            Samples::U8(d) => {
                for (i, out) in d.chunks_exact_mut(row_len).enumerate() {
                    let y = first + i as u32;
                    if contiguous {
                        // SAFETY: the row's `row_len` samples lie from its first one on, inside
                        // the array that `_owner` keeps.
                        let row = unsafe { std::slice::from_raw_parts(self.at(y, 0, 0), row_len) };
                        out.copy_from_slice(row);
                    } else {
                        for (k, sample) in out.iter_mut().enumerate() {
                            // SAFETY: an index within the array's shape, at its strides.
                            *sample = unsafe { *self.at(y, k / channels, k % channels) };
                        }
                    }
                }
            }
            Samples::U16(d) => {
                for (i, out) in d.chunks_exact_mut(row_len).enumerate() {
                    let y = first + i as u32;
                    for (k, sample) in out.iter_mut().enumerate() {
                        let at = self.at(y, k / channels, k % channels) as *const u16;
                        // SAFETY: an index within the array's shape, at its strides; NumPy
                        // may leave 16-bit samples unaligned, hence the unaligned read.
                        let v = unsafe { at.read_unaligned() };
                        *sample = if self.swapped { v.swap_bytes() } else { v };
                    }
                }
            }
            Samples::F32(d) => {
                for (i, out) in d.chunks_exact_mut(row_len).enumerate() {
                    let y = first + i as u32;
                    for (k, sample) in out.iter_mut().enumerate() {
                        let at = self.at(y, k / channels, k % channels) as *const u32;
                        // SAFETY: as for 16 bits above.
                        let v = unsafe { at.read_unaligned() };
                        *sample = f32::from_bits(if self.swapped { v.swap_bytes() } else { v });
                    }
                }
            }
        }
        self.next_row += rows;
        Ok(())
    }
}

/// Compares two arrays in place, with no copy, when that can be done: both contiguous in this
/// machine's byte order, of one size and layout, on the CPU engine, with no diff image to
/// write and only the ratio's figures asked for. `None` otherwise, for the band by band
/// comparison to do.
pub fn compare_in_place(
    a: &ArrayRows,
    b: &ArrayRows,
    names: [&Path; 2],
    options: &Options,
) -> Option<Result<Report, Error>> {
    let start = Instant::now();
    let header = a.header;
    let simple = options.diff_image.is_none()
        && options.backend != Backend::Gpu
        && options.perceptual.is_none()
        && options.flip_wanted().is_none()
        && !options.ssim_wanted()
        && options.ignore.is_empty()
        && options.mask.is_none();
    if !simple || b.header != header {
        return None;
    }
    let (samples_a, samples_b) = (a.whole()?, b.whole()?);
    for name in names {
        let limit = options.max_pixels.streamed;
        if let Err(error) = PixelLimits::check(name, header.width, header.height, limit) {
            return Some(Err(error));
        }
    }
    let engine = CpuEngine { parallel: true };
    let stats = engine.diff_in_place(
        header.layout,
        header.width,
        samples_a,
        samples_b,
        options.ignore_alpha,
    )?;
    Some(Ok(Report {
        width: header.width,
        height: header.height,
        layout: header.layout,
        ignore_alpha: options.ignore_alpha,
        stats,
        perceptual: None,
        ignored: 0,
        flip: None,
        ssim: None,
        uncovered: 0,
        sizes: None,
        engine: EngineInfo::Cpu,
        gpu_bands: 0,
        cpu_bands: 1,
        measured: Vec::new(),
        engine_reason: (options.backend == Backend::Auto)
            .then(|| "arrays compared where they lie: only the CPU engine does that".into()),
        elapsed: start.elapsed(),
        notes: Vec::new(),
    }))
}
