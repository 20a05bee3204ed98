//! The original diffimg's `diff()` on this crate's engines: images read as Pillow reads them
//! (its mode names, 16-bit colour PNGs cut to their high bytes), differing modes refused with
//! its message, image 2 resized to image 1's size, an alpha channel added to the diff image
//! when alpha is ignored, and the ratio evaluated as it evaluates it.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use crate::compare::{compare_rows, open_both};
use crate::decode::{self, Header, PixelLimits, RowSource};
use crate::error::Error;
use crate::options::Options;
use crate::pixel::{Layout, Samples, promote};
use crate::report::Report;

/// Why `diff` failed.
pub enum DiffError {
    /// A refusal diffimg makes with a `ValueError`.
    Value(String),
    /// A failure Pillow reports with an `OSError`.
    Os(String),
    Crate(Error),
}

impl From<Error> for DiffError {
    fn from(error: Error) -> DiffError {
        DiffError::Crate(error)
    }
}

/// An image `diff` reads: a file, or the contents of a file object, and what to call it.
pub struct Image {
    pub name: PathBuf,
    pub contents: Option<Vec<u8>>,
}

impl Image {
    fn open(self, limits: PixelLimits) -> Result<Box<dyn RowSource>, Error> {
        match self.contents {
            None => decode::open(&self.name, limits),
            Some(bytes) => decode::from_stream(&self.name, Cursor::new(bytes), limits),
        }
    }
}

/// diffimg's `diff(a, b, ...)`: writes the diff image to `diff_image` when given, and returns
/// the ratio as diffimg computes it.
pub fn diff(
    a: Image,
    b: Image,
    diff_image: Option<PathBuf>,
    ignore_alpha: bool,
) -> Result<f64, DiffError> {
    let limits = PixelLimits::default();
    let (a_image, b_image) = (a, b);
    let (a_name, b_name) = (a_image.name.clone(), b_image.name.clone());
    let (a, b) = (a_name.as_path(), b_name.as_path());
    let [source_a, source_b] = open_both([a, b], || a_image.open(limits), || b_image.open(limits));
    let (source_a, source_b) = (source_a?, source_b?);
    if [&source_a, &source_b]
        .iter()
        .any(|s| s.header().layout.depth.is_float())
    {
        return Err(DiffError::Value(
            "floating-point images (OpenEXR, float TIFF) are compared by diffimg.compare(), not \
             by the original diffimg's diff()"
                .into(),
        ));
    }
    let (mode_a, layout_a) = pillow_mode(source_a.header().layout);
    let (mode_b, layout_b) = pillow_mode(source_b.header().layout);
    if mode_a != mode_b {
        return Err(DiffError::Value(format!(
            "Differing color modes:\n  {}: {mode_a}\n  {}: {mode_b}\n\
             Ensure image color modes are the same.",
            a.display(),
            b.display()
        )));
    }
    if mode_a == "I;16" {
        // Pillow's ImageChops.difference has no 16-bit mode.
        return Err(DiffError::Value(
            "image has wrong mode (I;16: 16-bit grey, which diffimg cannot diff; \
             diffimg.compare() can)"
                .into(),
        ));
    }
    if mode_a == "CMYK" {
        check_cmyk(diff_image.as_deref(), ignore_alpha)?;
    }
    let options = Options {
        ignore_alpha,
        resize: true,
        diff_image,
        ..Options::default()
    };
    // Ignoring alpha, diffimg gives its diff image an alpha of 255, adding the channel to L
    // and RGB images: compared with an opaque alpha on both sides, it is written so.
    let with_alpha = |layout: Layout| match layout.channels {
        1 | 3 if ignore_alpha => Layout::new(layout.channels + 1, layout.depth),
        _ => layout,
    };
    let (layout_a, layout_b) = (with_alpha(layout_a), with_alpha(layout_b));
    let sources = [as_read(source_a, layout_a), as_read(source_b, layout_b)];
    let report = compare_rows([a, b], sources, &options)?;
    Ok(ratio(&report, ignore_alpha))
}

/// The mode Pillow opens an image of `layout` in, and the layout of its samples in that mode.
/// Pillow reads 16-bit colour PNGs as 8-bit (their high bytes), grey and alpha 16-bit ones as
/// RGBA, and 16-bit grey ones as I;16.
fn pillow_mode(layout: Layout) -> (&'static str, Layout) {
    match layout {
        Layout::L8 => ("L", layout),
        Layout::LA8 => ("LA", layout),
        Layout::RGB8 => ("RGB", layout),
        Layout::L16 => ("I;16", layout),
        Layout::RGB16 => ("RGB", Layout::RGB8),
        _ if layout.cmyk => ("CMYK", Layout::CMYK8),
        _ => ("RGBA", Layout::RGBA8),
    }
}

/// What diffimg does with a CMYK pair, which Pillow keeps in CMYK: without a diff image the
/// ratio is the mean of the difference's four samples as stored (computed by `diff`), and a
/// PNG diff image (the default) fails as Pillow's save fails. With alpha ignored, or a JPEG
/// diff image, diffimg turns the difference into RGB by Pillow's uncalibrated ink formula
/// first, which is refused here rather than given a different figure.
fn check_cmyk(diff_image: Option<&Path>, ignore_alpha: bool) -> Result<(), DiffError> {
    let refuse = || {
        DiffError::Value(
            "CMYK images: diffimg converts the difference to RGB with alpha ignored or a JPEG \
             diff image, which is not supported; diffimg.compare() gives the CMYK ratio"
                .into(),
        )
    };
    if ignore_alpha {
        return Err(refuse());
    }
    let Some(path) = diff_image else {
        return Ok(());
    };
    // diffimg takes the format from the text after the path's last dot, PNG when it has none.
    let name = path.to_string_lossy();
    match name
        .rsplit_once('.')
        .map_or("png", |(_, extension)| extension)
    {
        "jpg" | "jpeg" => Err(refuse()),
        "png" => Err(DiffError::Os("cannot write mode CMYK as PNG".into())),
        _ => Ok(()),
    }
}

/// `source` with its samples in `layout`: 8-bit, and with as many or more channels.
fn as_read(source: Box<dyn RowSource>, layout: Layout) -> Box<dyn RowSource> {
    if source.header().layout == layout {
        return source;
    }
    Box::new(Converted {
        source,
        layout,
        read: Samples::U16(Vec::new()),
        narrow: Samples::U8(Vec::new()),
    })
}

/// A source read in another 8-bit layout: 16-bit samples cut to their high bytes, as Pillow
/// reads 16-bit colour PNGs, then grey replicated into RGB and an opaque alpha added where the
/// layout asks for them.
struct Converted {
    source: Box<dyn RowSource>,
    layout: Layout,
    read: Samples,
    narrow: Samples,
}

impl RowSource for Converted {
    fn header(&self) -> Header {
        Header {
            layout: self.layout,
            ..self.source.header()
        }
    }

    fn decodes_as_read(&self) -> bool {
        self.source.decodes_as_read()
    }

    fn read_rows(&mut self, rows: u32, dst: &mut Samples) -> Result<(), Error> {
        self.source.read_rows(rows, &mut self.read)?;
        let narrow = match &self.read {
            Samples::U16(v) => {
                self.narrow = Samples::U8(v.iter().map(|s| (s >> 8) as u8).collect());
                &self.narrow
            }
            Samples::U8(_) => &self.read,
            Samples::F32(_) => unreachable!("diff() refuses floating-point images"),
        };
        let from = Layout {
            depth: self.layout.depth,
            ..self.source.header().layout
        };
        if from == self.layout {
            *dst = narrow.clone();
        } else {
            promote(narrow, from, self.layout, dst);
        }
        Ok(())
    }
}

/// The ratio as diffimg evaluates it from Pillow's per-channel means of the diff image. With
/// `ignore_alpha`, diffimg sets the diff image's alpha to 255 (adding an alpha channel to L and
/// RGB images) and leaves alpha out only when there are four channels: an L or LA pair counts
/// that alpha of 255 in.
fn ratio(report: &Report, ignore_alpha: bool) -> f64 {
    let layout = report.layout;
    let pixels = (u64::from(report.width) * u64::from(report.height)) as f64;
    let channels = layout.channels as usize;
    let colours = if layout.has_alpha() {
        channels - 1
    } else {
        channels
    };
    let mut means: Vec<f64> = (0..colours)
        .map(|c| report.stats.sums[c] as f64 / pixels)
        .collect();
    if ignore_alpha {
        means.push(255.0);
    } else if layout.has_alpha() {
        means.push(report.stats.sums[channels - 1] as f64 / pixels);
    }
    let counted = if ignore_alpha && means.len() == 4 {
        3
    } else {
        means.len()
    };
    let total: f64 = means[..counted].iter().sum();
    total / (counted * 255) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_has_its_own_mode_kept_in_cmyk() {
        assert_eq!(pillow_mode(Layout::CMYK8), ("CMYK", Layout::CMYK8));
        assert_eq!(pillow_mode(Layout::CMYK16), ("CMYK", Layout::CMYK8));
        assert_eq!(pillow_mode(Layout::RGBA16), ("RGBA", Layout::RGBA8));
    }

    #[test]
    fn cmyk_diff_images_fail_as_pillow_fails() {
        let refused = |path: Option<&str>, ignore_alpha| match check_cmyk(
            path.map(Path::new),
            ignore_alpha,
        ) {
            Ok(()) => "ok".to_string(),
            Err(DiffError::Value(_)) => "value".to_string(),
            Err(DiffError::Os(message)) => message,
            Err(DiffError::Crate(error)) => error.to_string(),
        };
        assert_eq!(refused(None, false), "ok");
        assert_eq!(
            refused(Some("diff_img.png"), false),
            "cannot write mode CMYK as PNG"
        );
        assert_eq!(
            refused(Some("diff"), false),
            "cannot write mode CMYK as PNG"
        );
        assert_eq!(refused(Some("d.jpg"), false), "value");
        assert_eq!(refused(None, true), "value");
    }
}
