//! Reading images as rows: PNG and JPEG are decoded row by row as they are read, TIFF and
//! OpenEXR a row of strips, blocks or tiles at a time; every other format is decoded whole and
//! then handed out row by row.

mod exr;
mod jpeg;
mod png;
mod tiff;
mod whole;

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use image::{ImageFormat, ImageReader};

use crate::error::Error;
use crate::hooks::{self, Hook};
use crate::pixel::{Layout, Samples};
use png::PngRows;
pub use whole::WholeRows;

/// What an image's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Channels and sample type.
    pub layout: Layout,
}

impl Header {
    /// Pixels in the image.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Samples in one row.
    pub(crate) fn row_len(&self) -> usize {
        self.width as usize * self.layout.channels as usize
    }
}

/// The most pixels an image's header may claim before anything is allocated for it: a damaged
/// or hostile header must not make the tool reserve gigabytes. Streamed images hold only a few
/// rows, so their limit is high; images decoded whole are held entirely in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelLimits {
    /// PNG, JPEG, TIFF and OpenEXR read row by row: 2^32 pixels (65536x65536) by default.
    pub streamed: u64,
    /// Everything decoded whole: 2^28 pixels (16384x16384, 1 GiB as RGBA) by default.
    pub whole: u64,
}

impl PixelLimits {
    /// The same limit for every image.
    pub fn all(pixels: u64) -> PixelLimits {
        PixelLimits {
            streamed: pixels,
            whole: pixels,
        }
    }

    /// Bytes of decoded chunks or blocks that one streamed image may hold at once: half the
    /// budget of an image decoded whole (4 bytes a pixel), the other half being the other
    /// image's, so 512 MiB by default.
    pub(crate) fn held_bytes(&self) -> u64 {
        self.whole.saturating_mul(2)
    }

    /// Refuses a header of `width` x `height` above `limit`, or with no pixels.
    pub fn check(name: &Path, width: u32, height: u32, limit: u64) -> Result<(), Error> {
        if width == 0 || height == 0 {
            return Err(Error::decode(
                name,
                format!("image has no pixels ({width}x{height})"),
            ));
        }
        if u64::from(width) * u64::from(height) > limit {
            let path = name.to_owned();
            return Err(Error::TooLarge {
                path,
                width,
                height,
                limit,
            });
        }
        Ok(())
    }
}

impl Default for PixelLimits {
    fn default() -> PixelLimits {
        PixelLimits {
            streamed: 1 << 32,
            whole: 1 << 28,
        }
    }
}

/// A source of an image's rows, top to bottom.
pub trait RowSource: Send {
    /// The image's size and layout.
    fn header(&self) -> Header;

    /// Reads the next `rows` rows into `dst`, resized to hold them.
    fn read_rows(&mut self, rows: u32, dst: &mut Samples) -> Result<(), Error>;

    /// Whether reading rows decodes them, rather than copying rows decoded beforehand.
    fn decodes_as_read(&self) -> bool {
        false
    }
}

/// Byte streams the decoders read.
pub trait Stream: BufRead + Seek + Send {}
impl<T: BufRead + Seek + Send> Stream for T {}

/// Opens the image at `path`, refusing headers that claim more pixels than `limits` allow.
pub fn open(path: &Path, limits: PixelLimits) -> Result<Box<dyn RowSource>, Error> {
    let file = open_regular(path).map_err(|e| e.naming(path))?;
    // TGA has no signature to recognise it by: its extension has to do.
    let by_name = ImageFormat::from_path(path)
        .ok()
        .filter(|&format| format == ImageFormat::Tga);
    let stream = BufReader::with_capacity(1 << 18, file);
    read(path, Some(path), stream, limits, by_name)
}

/// Why `open_regular` gave no file.
pub(crate) enum NotRegular {
    Io(std::io::Error),
    Directory,
    Other,
}

impl NotRegular {
    /// The error for the image called `name`.
    pub(crate) fn naming(self, name: &Path) -> Error {
        match self {
            NotRegular::Io(cause) => Error::read(name, cause),
            NotRegular::Directory => Error::decode(name, "is a directory, not an image"),
            NotRegular::Other => Error::decode(name, "is not a regular file"),
        }
    }
}

/// Opens `path` for reading when it is a regular file. It is opened without waiting (opening a
/// named pipe would wait for a writer) and its type is taken from the open file, so a file
/// swapped for a pipe between a check and the open is refused too.
pub(crate) fn open_regular(path: &Path) -> Result<File, NotRegular> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(NotRegular::Io)?;
    let kind = file.metadata().map_err(NotRegular::Io)?.file_type();
    if kind.is_dir() {
        Err(NotRegular::Directory)
    } else if kind.is_file() {
        Ok(file)
    } else {
        Err(NotRegular::Other)
    }
}

/// Reads an image from `stream`; `name` is what errors call it.
pub fn from_stream<R: Stream + 'static>(
    name: &Path,
    stream: R,
    limits: PixelLimits,
) -> Result<Box<dyn RowSource>, Error> {
    read(name, None, stream, limits, None)
}

/// Reads an image from `stream` in the format its content shows, or else `by_name`; `path`,
/// when the image is a file, lets TIFF chunks be read by several workers at once.
fn read<R: Stream + 'static>(
    name: &Path,
    path: Option<&Path>,
    stream: R,
    limits: PixelLimits,
    by_name: Option<ImageFormat>,
) -> Result<Box<dyn RowSource>, Error> {
    hooks::fire(Hook::Open(name));
    let mut reader = ImageReader::new(stream)
        .with_guessed_format()
        .map_err(|cause| Error::read(name, cause))?;
    if let (None, Some(format)) = (reader.format(), by_name) {
        reader.set_format(format);
    }
    match reader.format() {
        Some(ImageFormat::Png) => Ok(Box::new(PngRows::new(name, reader.into_inner(), limits)?)),
        Some(ImageFormat::Jpeg) => {
            let mut stream = reader.into_inner();
            Ok(Box::new(jpeg::JpegRows::new(name, &mut stream, limits)?))
        }
        Some(ImageFormat::Tiff) => tiff_rows(name, path, reader.into_inner(), limits),
        Some(ImageFormat::OpenExr) => Ok(Box::new(exr::open(name, reader.into_inner(), limits)?)),
        Some(ImageFormat::Gif) => {
            let rows = WholeRows::decode(name, reader, limits.whole)?;
            Ok(Box::new(rows.opaque_as_rgb()))
        }
        Some(_) => Ok(Box::new(WholeRows::decode(name, reader, limits.whole)?)),
        None => {
            // BigTIFF, which the image crate does not recognise.
            let mut stream = reader.into_inner();
            let read_error = |e| Error::read(name, e);
            let start = stream.stream_position().map_err(read_error)?;
            let mut head = [0; 4];
            let big = stream.read_exact(&mut head).is_ok() && matches!(&head, b"II+\0" | b"MM\0+");
            stream.seek(SeekFrom::Start(start)).map_err(read_error)?;
            if big {
                return tiff_rows(name, path, stream, limits);
            }
            Err(Error::decode(name, "not an image in a supported format"))
        }
    }
}

/// A TIFF's rows: streamed by chunks where `tiff` reads it, else decoded whole.
fn tiff_rows<R: Stream + 'static>(
    name: &Path,
    path: Option<&Path>,
    stream: R,
    limits: PixelLimits,
) -> Result<Box<dyn RowSource>, Error> {
    match tiff::open(name, path, stream, limits)? {
        Ok(rows) => Ok(rows),
        Err(stream) => {
            let reader = ImageReader::with_format(stream, ImageFormat::Tiff);
            Ok(Box::new(WholeRows::decode(name, reader, limits.whole)?))
        }
    }
}
