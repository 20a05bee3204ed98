//! The diff image as a PNG stream, encoded band by band as the rows arrive, marked as a diff
//! image by a text chunk.

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use crate::decode::Header;
use crate::output::Compression;
use crate::output::target::Checked;
use crate::pixel::{Depth, Samples};

/// A PNG encoded as a stream. Its first bytes are held back until there are enough to judge
/// how well the image compresses: with `Compression::Fast`, data that does not compress (noise)
/// is stored as it is, several times faster than compressing it and a smaller file. The choice
/// depends only on the image, never on how it was cut into bands.
pub(crate) struct PngSink {
    /// The file, until the encoder starts.
    out: Option<BufWriter<Checked>>,
    held: Vec<u8>,
    stream: Option<png::StreamWriter<'static, BufWriter<Checked>>>,
    header: Header,
    compression: Compression,
    /// An indexed PNG's palette: red, green, blue, then every alpha.
    palette: Option<(Vec<u8>, Vec<u8>)>,
    scratch: Vec<u8>,
}

/// Bytes the compression choice looks at.
const SAMPLE_BYTES: usize = 1 << 20;

impl PngSink {
    /// With `palette`, an indexed PNG, written from one index a pixel; its transparency is
    /// kept when `header`'s layout has alpha, so decoders give that layout back.
    pub(crate) fn new(
        out: BufWriter<Checked>,
        header: Header,
        compression: Compression,
        palette: Option<&[[u8; 4]]>,
    ) -> PngSink {
        let (held, scratch) = (Vec::new(), Vec::new());
        let palette = palette.map(|colours| {
            let rgb = colours.iter().flat_map(|c| &c[..3]).copied().collect();
            let alpha = match header.layout.channels {
                4 => colours.iter().map(|c| c[3]).collect(),
                _ => Vec::new(),
            };
            (rgb, alpha)
        });
        PngSink {
            out: Some(out),
            held,
            stream: None,
            header,
            compression,
            palette,
            scratch,
        }
    }

    pub(crate) fn write(&mut self, rows: &Samples) -> Result<(), png::EncodingError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let bytes = match rows {
            Samples::U8(v) => v.as_slice(),
            Samples::U16(v) => {
                scratch.clear();
                scratch.extend(v.iter().flat_map(|s| s.to_be_bytes()));
                scratch.as_slice()
            }
            Samples::F32(_) => unreachable!("floating-point diffs reach PNG as 16 bits"),
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
        // Palette indices drawn by a style compress, noise or not: a few dozen colours.
        let stored = self.compression == Compression::Fast
            && self.palette.is_none()
            && incompressible(sample);
        let mut stream = png_stream(out, self.header, self.compression, stored, &self.palette)?;
        stream.write_all(&self.held)?;
        self.held = Vec::new();
        self.stream = Some(stream);
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<(), png::EncodingError> {
        self.start()?;
        match self.stream {
            Some(stream) => stream.finish(),
            None => Err(std::io::Error::other("the encoder did not start").into()),
        }
    }
}

fn png_stream(
    out: BufWriter<Checked>,
    header: Header,
    compression: Compression,
    stored: bool,
    palette: &Option<(Vec<u8>, Vec<u8>)>,
) -> Result<png::StreamWriter<'static, BufWriter<Checked>>, png::EncodingError> {
    let mut encoder = png::Encoder::new(out, header.width, header.height);
    encoder.set_color(match (palette, header.layout.channels) {
        (Some(_), _) => png::ColorType::Indexed,
        (None, 1) => png::ColorType::Grayscale,
        (None, 2) => png::ColorType::GrayscaleAlpha,
        (None, 3) => png::ColorType::Rgb,
        (None, _) => png::ColorType::Rgba,
    });
    encoder.set_depth(match header.layout.depth {
        Depth::Eight => png::BitDepth::Eight,
        Depth::Sixteen | Depth::Float => png::BitDepth::Sixteen,
    });
    if let Some((rgb, alpha)) = palette {
        encoder.set_palette(rgb.clone());
        if !alpha.is_empty() {
            encoder.set_trns(alpha.clone());
        }
    }
    // `Fastest` is the fast deflate with every row filtered by `Up`: trying each filter per
    // row, as `Fast` does, costs about a third more CPU time for files a sixth smaller.
    encoder.set_compression(match compression {
        Compression::Fast if stored => png::Compression::NoCompression,
        Compression::Fast => png::Compression::Fastest,
        Compression::Best => png::Compression::High,
    });
    encoder.add_text_chunk(MARKER.0.into(), MARKER.1.into())?;
    encoder
        .write_header()?
        .into_stream_writer_with_size(1 << 18)
}

/// The text chunk every diff image carries: batch runs remove only files that have it.
const MARKER: (&str, &str) = ("Software", "diffimg");

/// Whether the file at `path` is a PNG that carries the diff image marker.
pub(crate) fn marked(path: &Path) -> bool {
    let Ok(file) = crate::decode::open_regular(path) else {
        return false;
    };
    let Ok(reader) = png::Decoder::new(BufReader::new(file)).read_info() else {
        return false;
    };
    reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .any(|chunk| (chunk.keyword.as_str(), chunk.text.as_str()) == MARKER)
}

/// Whether `bytes` barely compress: the fastest deflate saves less than a twentieth.
fn incompressible(bytes: &[u8]) -> bool {
    !bytes.is_empty() && fdeflate::compress_to_vec(bytes).len() * 20 > bytes.len() * 19
}
