//! Writing the diff image. PNG is encoded as a stream, band by band; other formats are collected
//! and encoded at the end, within a memory limit. Either way the bytes go to a temporary file
//! beside the target, which replaces the target only once complete and on disk, so a failed or
//! interrupted run leaves nothing behind.

mod exr;
mod format;
mod png;
mod target;

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::decode::Header;
use crate::error::Error;
use crate::pixel::{Depth, Layout, Samples};

use format::Format;
use png::PngSink;
pub(crate) use png::marked;
use target::Target;
pub use target::remove_unfinished;
pub(crate) use target::{Listed, folder_of, unfinished};

/// Whether the diff image at `target` is written in a format that holds one channel of
/// floating-point samples (a render metric's style then writes the values themselves).
pub(crate) fn holds_floats(target: &Path) -> bool {
    Format::of(target).is_ok_and(|f| f.holds_floats(Layout::new(1, Depth::Float)))
}

/// How hard the PNG encoder works on the diff image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Fast, light compression: the default.
    #[default]
    Fast,
    /// Smaller files, several times slower to write.
    Best,
}

impl Compression {
    /// Every level's name, as `FromStr` takes it.
    pub const NAMES: [&str; 2] = ["fast", "best"];
}

impl std::str::FromStr for Compression {
    type Err = String;

    fn from_str(name: &str) -> Result<Compression, String> {
        match name {
            "fast" => Ok(Compression::Fast),
            "best" => Ok(Compression::Best),
            _ => Err(format!("'{name}' is not fast or best")),
        }
    }
}

/// What a diff image is written as, besides its path.
#[derive(Clone, Copy, Debug)]
pub struct OutputOptions {
    pub compression: Compression,
    /// The diff's alpha is 255 everywhere (alpha ignored), so formats without alpha may drop it.
    pub opaque: bool,
    /// The most pixels a format encoded whole may hold in memory.
    pub max_whole_pixels: u64,
}

/// A diff image being written.
pub struct DiffWriter {
    target: Target,
    sink: Sink,
    /// Floating-point rows written to a format without floats: clamped to 0..1, as 16 bits
    /// (in this buffer).
    clamped: Option<Vec<u16>>,
    /// The colours of the indices the rows hold, when they hold indices rather than samples.
    palette: Option<Vec<[u8; 4]>>,
}

enum Sink {
    Png(Box<PngSink>),
    Whole {
        format: Format,
        header: Header,
        samples: Samples,
    },
}

impl DiffWriter {
    /// Checks that a diff image of `header`'s size and layout can be written to `target` and
    /// opens its temporary file. Refuses a target that is one of `inputs` (the images, a mask).
    /// With `palette` (at most 256 colours, in `header`'s 8-bit layout), the rows written are
    /// one index a pixel.
    pub fn create(
        target: &Path,
        header: Header,
        options: OutputOptions,
        inputs: &[&Path],
        palette: Option<Vec<[u8; 4]>>,
    ) -> Result<DiffWriter, Error> {
        let format = Format::of(target).map_err(|cause| Error::output(target, cause))?;
        let clamp = header.layout.depth == Depth::Float && !format.holds_floats(header.layout);
        let header = match clamp {
            true => Header {
                layout: Layout {
                    depth: Depth::Sixteen,
                    ..header.layout
                },
                ..header
            },
            false => header,
        };
        format
            .check(header, options.opaque, options.max_whole_pixels)
            .map_err(|cause| Error::output(target, cause))?;
        let target = Target::open(target, inputs)?;
        let sink = match format {
            Format::Png => {
                let out = BufWriter::with_capacity(1 << 18, target.writer()?);
                let sink = PngSink::new(out, header, options.compression, palette.as_deref());
                Sink::Png(Box::new(sink))
            }
            Format::Whole(..) => Sink::Whole {
                format,
                header,
                samples: Samples::zeroed(header.layout.depth, 0),
            },
        };
        Ok(DiffWriter {
            target,
            sink,
            clamped: clamp.then(Vec::new),
            palette,
        })
    }

    /// Appends rows of diff pixels (of palette indices, when created with a palette).
    pub fn write_rows(&mut self, rows: &Samples) -> Result<(), Error> {
        let (Some(buffer), Samples::F32(floats)) = (&mut self.clamped, rows) else {
            return self.write_samples(rows);
        };
        buffer.clear();
        buffer.extend(floats.iter().map(|&v| clamp(v)));
        let clamped = Samples::U16(std::mem::take(buffer));
        let written = self.write_samples(&clamped);
        if let Samples::U16(buffer) = clamped {
            self.clamped = Some(buffer);
        }
        written
    }

    fn write_samples(&mut self, rows: &Samples) -> Result<(), Error> {
        match &mut self.sink {
            Sink::Png(png) => png.write(rows).map_err(|e| self.target.error(&e)),
            Sink::Whole {
                samples, header, ..
            } => {
                match (samples, rows, &self.palette) {
                    (Samples::U8(all), Samples::U8(v), Some(palette)) => {
                        let channels = header.layout.channels as usize;
                        for &index in v {
                            all.extend_from_slice(&palette[usize::from(index)][..channels]);
                        }
                    }
                    (Samples::U8(all), Samples::U8(v), None) => all.extend_from_slice(v),
                    (Samples::U16(all), Samples::U16(v), None) => all.extend_from_slice(v),
                    (Samples::F32(all), Samples::F32(v), None) => all.extend_from_slice(v),
                    _ => unreachable!("diff rows keep the image's depth"),
                }
                Ok(())
            }
        }
    }

    /// Finishes encoding and puts the file in place of the target.
    pub fn finish(self) -> Result<(), Error> {
        let DiffWriter { target, sink, .. } = self;
        match sink {
            Sink::Png(png) => png.finish().map_err(|e| target.error(&e))?,
            Sink::Whole {
                format,
                header,
                samples,
            } => {
                let mut out = BufWriter::new(target.writer()?);
                format
                    .encode(header, samples, &mut out)
                    .map_err(|e| target.error(&e))?;
                out.flush().map_err(|e| target.error(&e))?;
            }
        }
        target.replace()
    }
}

/// A floating-point difference as a 16-bit sample: 0 to 1 scaled to 0 to 65535, rounded;
/// above 1, infinite and NaN are 65535.
fn clamp(v: f32) -> u16 {
    if v.is_nan() {
        return u16::MAX;
    }
    (v.clamp(0.0, 1.0) * 65535.0).round() as u16
}
