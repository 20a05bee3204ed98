//! Images decoded whole, by the `image` crate (or the `tiff` crate for grey+alpha TIFF, which
//! the former does not read), then handed out row by row.

use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::decode::{Header, PixelLimits, RowSource, Stream};
use crate::error::Error;
use crate::pixel::{Layout, Samples};

/// An image decoded whole, handed out row by row.
pub struct WholeRows {
    header: Header,
    samples: Samples,
    next_row: u32,
}

impl WholeRows {
    pub(crate) fn decode<R: Stream>(
        name: &Path,
        reader: ImageReader<R>,
        max_pixels: u64,
    ) -> Result<Self, Error> {
        let mut decoder = reader.into_decoder().map_err(|e| Error::decode(name, e))?;
        let (width, height) = decoder.dimensions();
        PixelLimits::check(name, width, height, max_pixels)?;
        // The decoder's own buffers besides the image (a GIF frame larger than its screen, TIFF
        // strips) get as much again as the image, and at least the image crate's default:
        // without a limit, a forged frame or strip size is allocated unchecked.
        let mut limits = image::Limits::default();
        let budget = decoder.total_bytes().saturating_mul(2);
        limits.max_alloc = limits.max_alloc.map(|default| default.max(budget));
        decoder
            .set_limits(limits)
            .map_err(|e| Error::decode(name, e))?;
        let image = DynamicImage::from_decoder(decoder).map_err(|e| Error::decode(name, e))?;
        Ok(WholeRows::from_image(image))
    }

    /// Rows of an image already in memory, in the nearest layout this crate has.
    pub fn from_image(image: DynamicImage) -> WholeRows {
        use DynamicImage as D;
        let (width, height) = (image.width(), image.height());
        let (channels, samples) = match image {
            D::ImageLuma8(i) => (1, Samples::U8(i.into_raw())),
            D::ImageLumaA8(i) => (2, Samples::U8(i.into_raw())),
            D::ImageRgb8(i) => (3, Samples::U8(i.into_raw())),
            D::ImageRgba8(i) => (4, Samples::U8(i.into_raw())),
            D::ImageLuma16(i) => (1, Samples::U16(i.into_raw())),
            D::ImageLumaA16(i) => (2, Samples::U16(i.into_raw())),
            D::ImageRgb16(i) => (3, Samples::U16(i.into_raw())),
            D::ImageRgba16(i) => (4, Samples::U16(i.into_raw())),
            D::ImageRgb32F(_) => (3, Samples::U16(image.to_rgb16().into_raw())),
            _ => (4, Samples::U16(image.to_rgba16().into_raw())),
        };
        let layout = Layout::new(channels, samples.depth());
        WholeRows {
            header: Header {
                width,
                height,
                layout,
            },
            samples,
            next_row: 0,
        }
    }
}

impl WholeRows {
    /// RGBA 8-bit rows whose alpha is 255 everywhere as RGB: a GIF with no transparent pixel
    /// counts as RGB, as the same pixels do in PNG, BMP or WebP.
    pub(crate) fn opaque_as_rgb(self) -> WholeRows {
        let Samples::U8(samples) = &self.samples else {
            return self;
        };
        let opaque = samples.chunks_exact(4).all(|px| px[3] == 255);
        if self.header.layout != Layout::RGBA8 || !opaque {
            return self;
        }
        let rgb = samples
            .chunks_exact(4)
            .flat_map(|px| [px[0], px[1], px[2]])
            .collect();
        WholeRows {
            header: Header {
                layout: Layout::RGB8,
                ..self.header
            },
            samples: Samples::U8(rgb),
            next_row: 0,
        }
    }
}

impl RowSource for WholeRows {
    fn header(&self) -> Header {
        self.header
    }

    fn read_rows(&mut self, rows: u32, dst: &mut Samples) -> Result<(), Error> {
        let row_len = self.header.row_len();
        let range = self.next_row as usize * row_len..(self.next_row + rows) as usize * row_len;
        dst.reset(self.header.layout.depth, range.len());
        match (&self.samples, dst) {
            (Samples::U8(s), Samples::U8(d)) => d.copy_from_slice(&s[range]),
            (Samples::U16(s), Samples::U16(d)) => d.copy_from_slice(&s[range]),
            _ => unreachable!("reset gives dst the source's depth"),
        }
        self.next_row += rows;
        Ok(())
    }
}

/// Decodes a grey+alpha TIFF (two samples per pixel, black is zero, the second one alpha),
/// which the `image` crate refuses; `None` for any other file, left to the `image` crate, with
/// `stream` back at its start.
pub(crate) fn grey_alpha_tiff<R: Stream>(
    name: &Path,
    stream: &mut R,
    max_pixels: u64,
) -> Result<Option<WholeRows>, Error> {
    use tiff::ColorType;
    use tiff::decoder::{Decoder, DecodingResult, Limits};
    use tiff::tags::Tag;
    let start = stream.stream_position().map_err(|e| Error::read(name, e))?;
    let found = Decoder::new(&mut *stream).ok().and_then(|mut decoder| {
        let colour = decoder.colortype().ok()?;
        let black_is_zero = decoder
            .get_tag_u32(Tag::PhotometricInterpretation)
            .is_ok_and(|p| p == 1);
        let alpha = decoder
            .get_tag_u32(Tag::ExtraSamples)
            .is_ok_and(|e| e == 1 || e == 2);
        match colour {
            ColorType::Multiband {
                bit_depth: bits @ (8 | 16),
                num_samples: 2,
            } if black_is_zero && alpha => Some((decoder, bits)),
            _ => None,
        }
    });
    let Some((mut decoder, bits)) = found else {
        stream
            .seek(std::io::SeekFrom::Start(start))
            .map_err(|e| Error::read(name, e))?;
        return Ok(None);
    };
    let fail = |e: tiff::TiffError| Error::decode(name, e);
    let (width, height) = decoder.dimensions().map_err(fail)?;
    PixelLimits::check(name, width, height, max_pixels)?;
    let bytes = usize::try_from(u64::from(width) * u64::from(height) * u64::from(bits / 4))
        .map_err(|_| Error::decode(name, "image too large to decode"))?;
    let mut limits = Limits::default();
    limits.decoding_buffer_size = bytes;
    limits.intermediate_buffer_size = limits.intermediate_buffer_size.max(bytes);
    let mut decoder = decoder.with_limits(limits);
    let samples = match decoder.read_image().map_err(fail)? {
        DecodingResult::U8(v) => Samples::U8(v),
        DecodingResult::U16(v) => Samples::U16(v),
        _ => return Err(Error::decode(name, "unexpected TIFF sample type")),
    };
    let layout = Layout::new(2, samples.depth());
    if samples.len() != width as usize * height as usize * 2 {
        return Err(Error::decode(
            name,
            "decoded size does not match the header",
        ));
    }
    let header = Header {
        width,
        height,
        layout,
    };
    Ok(Some(WholeRows {
        header,
        samples,
        next_row: 0,
    }))
}
