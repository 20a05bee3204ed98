//! Writing the diff image. PNG is encoded as a stream, band by band; other formats are collected
//! and encoded at the end. Either way the bytes go to a temporary file beside the target, which
//! replaces the target only once complete, so a failed run leaves nothing behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageBuffer, ImageFormat};
use tempfile::NamedTempFile;

use crate::decode::Header;
use crate::error::Error;
use crate::pixel::{Depth, Samples};

/// How hard the PNG encoder works on the diff image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Fast, light compression: the default.
    #[default]
    Fast,
    /// Smaller files, several times slower to write.
    Best,
}

/// A diff image being written.
pub struct DiffWriter {
    target: PathBuf,
    file: NamedTempFile,
    sink: Sink,
}

enum Sink {
    Png(Box<PngSink>),
    Whole {
        format: ImageFormat,
        header: Header,
        samples: Samples,
    },
}

/// A PNG encoded as a stream. Its first bytes are held back until there are enough to judge
/// how well the image compresses: with `Compression::Fast`, data that does not compress (noise)
/// is stored as it is, several times faster than compressing it and a smaller file. The choice
/// depends only on the image, never on how it was cut into bands.
struct PngSink {
    /// The file, until the encoder starts.
    out: Option<BufWriter<File>>,
    held: Vec<u8>,
    stream: Option<png::StreamWriter<'static, BufWriter<File>>>,
    header: Header,
    compression: Compression,
    scratch: Vec<u8>,
}

/// Bytes the compression choice looks at.
const SAMPLE_BYTES: usize = 1 << 20;

impl PngSink {
    fn new(out: BufWriter<File>, header: Header, compression: Compression) -> PngSink {
        let (held, scratch) = (Vec::new(), Vec::new());
        PngSink {
            out: Some(out),
            held,
            stream: None,
            header,
            compression,
            scratch,
        }
    }

    fn write(&mut self, rows: &Samples) -> Result<(), png::EncodingError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let bytes = match rows {
            Samples::U8(v) => v.as_slice(),
            Samples::U16(v) => {
                scratch.clear();
                scratch.extend(v.iter().flat_map(|s| s.to_be_bytes()));
                scratch.as_slice()
            }
        };
        if let Some(stream) = &mut self.stream {
            stream.write_all(bytes)?;
        } else {
            self.held.extend_from_slice(bytes);
            if self.held.len() >= SAMPLE_BYTES {
                self.start()?;
            }
        }
        self.scratch = scratch;
        Ok(())
    }

    /// Starts the encoder, unless it has started, and hands it the bytes held back.
    fn start(&mut self) -> Result<(), png::EncodingError> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let sample = &self.held[..self.held.len().min(SAMPLE_BYTES)];
        let stored = self.compression == Compression::Fast && incompressible(sample);
        let mut stream = png_stream(out, self.header, self.compression, stored)?;
        stream.write_all(&self.held)?;
        self.held = Vec::new();
        self.stream = Some(stream);
        Ok(())
    }

    fn finish(mut self) -> Result<(), png::EncodingError> {
        self.start()?;
        match self.stream {
            Some(stream) => stream.finish(),
            None => Err(std::io::Error::other("the encoder did not start").into()),
        }
    }
}

impl DiffWriter {
    /// Checks that a diff image of `header`'s size and layout can be written to `target` and
    /// opens its temporary file. Refuses a target that is one of `inputs`.
    pub fn create(
        target: &Path,
        header: Header,
        compression: Compression,
        inputs: [&Path; 2],
    ) -> Result<DiffWriter, Error> {
        let format = output_format(target)?;
        match std::fs::metadata(target) {
            Ok(meta) if meta.is_dir() => return Err(Error::output(target, "is a directory")),
            // A device, pipe or socket would be replaced by the file, not written to.
            Ok(meta) if !meta.is_file() => {
                return Err(Error::output(target, "is not a regular file"));
            }
            _ => {}
        }
        if inputs
            .iter()
            .any(|input| same_file::is_same_file(target, input).unwrap_or(false))
        {
            return Err(Error::output(
                target,
                "is one of the input images; refusing to overwrite it",
            ));
        }
        let folder = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !folder.is_dir() {
            let why = if folder.exists() {
                "is not a folder"
            } else {
                "does not exist"
            };
            return Err(Error::output(
                target,
                format!("folder {} {why}", folder.display()),
            ));
        }
        let file = tempfile::Builder::new()
            .prefix(".diffimg-")
            .suffix(".tmp")
            .tempfile_in(folder)
            .map_err(|e| {
                let cause = std::io::Error::from(e.kind());
                Error::output(
                    target,
                    format!("cannot write in {}: {cause}", folder.display()),
                )
            })?;
        let sink = if format == ImageFormat::Png {
            let handle = file
                .as_file()
                .try_clone()
                .map_err(|e| Error::output(target, e))?;
            let out = BufWriter::with_capacity(1 << 18, handle);
            Sink::Png(Box::new(PngSink::new(out, header, compression)))
        } else {
            Sink::Whole {
                format,
                header,
                samples: Samples::zeroed(header.layout.depth, 0),
            }
        };
        Ok(DiffWriter {
            target: target.to_owned(),
            file,
            sink,
        })
    }

    /// Appends rows of diff pixels.
    pub fn write_rows(&mut self, rows: &Samples) -> Result<(), Error> {
        match &mut self.sink {
            Sink::Png(png) => png.write(rows).map_err(|e| Error::output(&self.target, e)),
            Sink::Whole { samples, .. } => {
                match (samples, rows) {
                    (Samples::U8(all), Samples::U8(v)) => all.extend_from_slice(v),
                    (Samples::U16(all), Samples::U16(v)) => all.extend_from_slice(v),
                    _ => unreachable!("diff rows keep the image's depth"),
                }
                Ok(())
            }
        }
    }

    /// Finishes encoding and puts the file in place of the target.
    pub fn finish(self) -> Result<(), Error> {
        let DiffWriter { target, file, sink } = self;
        let fail = |e: &dyn std::fmt::Display| Error::output(&target, e);
        match sink {
            Sink::Png(png) => png.finish().map_err(|e| fail(&e))?,
            Sink::Whole {
                format,
                header,
                samples,
            } => {
                let image =
                    to_image(header, samples).ok_or_else(|| fail(&"image buffer size mismatch"))?;
                let handle = file.as_file().try_clone().map_err(|e| fail(&e))?;
                let mut out = BufWriter::new(handle);
                for_format(image, format)
                    .write_to(&mut out, format)
                    .map_err(|e| fail(&e))?;
                out.flush().map_err(|e| fail(&e))?;
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::Permissions::from_mode(0o644);
            file.as_file().set_permissions(mode).map_err(|e| fail(&e))?;
        }
        file.persist(&target).map_err(|e| fail(&e.error))?;
        Ok(())
    }
}

/// The format a diff image is written in: from the extension, PNG without one.
fn output_format(target: &Path) -> Result<ImageFormat, Error> {
    let Some(ext) = target.extension() else {
        return Ok(ImageFormat::Png);
    };
    match ImageFormat::from_extension(ext) {
        Some(format) if format.writing_enabled() => Ok(format),
        _ => Err(Error::output(
            target,
            format!(
                "cannot write images with extension '{}'",
                ext.to_string_lossy()
            ),
        )),
    }
}

fn png_stream(
    out: BufWriter<File>,
    header: Header,
    compression: Compression,
    stored: bool,
) -> Result<png::StreamWriter<'static, BufWriter<File>>, png::EncodingError> {
    let mut encoder = png::Encoder::new(out, header.width, header.height);
    encoder.set_color(match header.layout.channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    });
    encoder.set_depth(match header.layout.depth {
        Depth::Eight => png::BitDepth::Eight,
        Depth::Sixteen => png::BitDepth::Sixteen,
    });
    encoder.set_compression(match compression {
        Compression::Fast if stored => png::Compression::NoCompression,
        Compression::Fast => png::Compression::Fast,
        Compression::Best => png::Compression::High,
    });
    encoder
        .write_header()?
        .into_stream_writer_with_size(1 << 18)
}

/// Whether `bytes` barely compress: the fastest deflate saves less than a twentieth.
fn incompressible(bytes: &[u8]) -> bool {
    !bytes.is_empty() && fdeflate::compress_to_vec(bytes).len() * 20 > bytes.len() * 19
}

/// Samples of a whole image as the `image` crate's type.
pub(crate) fn to_image(header: Header, samples: Samples) -> Option<DynamicImage> {
    use DynamicImage as D;
    let (w, h) = (header.width, header.height);
    Some(match (samples, header.layout.channels) {
        (Samples::U8(v), 1) => D::ImageLuma8(ImageBuffer::from_raw(w, h, v)?),
        (Samples::U8(v), 2) => D::ImageLumaA8(ImageBuffer::from_raw(w, h, v)?),
        (Samples::U8(v), 3) => D::ImageRgb8(ImageBuffer::from_raw(w, h, v)?),
        (Samples::U8(v), _) => D::ImageRgba8(ImageBuffer::from_raw(w, h, v)?),
        (Samples::U16(v), 1) => D::ImageLuma16(ImageBuffer::from_raw(w, h, v)?),
        (Samples::U16(v), 2) => D::ImageLumaA16(ImageBuffer::from_raw(w, h, v)?),
        (Samples::U16(v), 3) => D::ImageRgb16(ImageBuffer::from_raw(w, h, v)?),
        (Samples::U16(v), _) => D::ImageRgba16(ImageBuffer::from_raw(w, h, v)?),
    })
}

/// Converts a diff image to a layout `format` can encode: JPEG drops alpha, formats without
/// 16-bit samples get 8, and those without grey get RGB. TIFF has no grey+alpha encoder, nor
/// PNM at 16 bits: those get RGBA.
fn for_format(image: DynamicImage, format: ImageFormat) -> DynamicImage {
    let colour = image.color();
    let (grey, alpha) = (colour.channel_count() <= 2, colour.has_alpha());
    let sixteen = colour.bytes_per_pixel() > colour.channel_count();
    match format {
        ImageFormat::Tiff | ImageFormat::Pnm if grey && alpha && sixteen => {
            image.to_rgba16().into()
        }
        ImageFormat::Tiff if grey && alpha => image.to_rgba8().into(),
        ImageFormat::Tiff | ImageFormat::Pnm => image,
        ImageFormat::Jpeg if grey => image.to_luma8().into(),
        ImageFormat::Jpeg => image.to_rgb8().into(),
        ImageFormat::Bmp | ImageFormat::Tga if grey && alpha => image.to_luma_alpha8().into(),
        ImageFormat::Bmp | ImageFormat::Tga if grey => image.to_luma8().into(),
        _ if alpha => image.to_rgba8().into(),
        _ => image.to_rgb8().into(),
    }
}
