//! Images decoded whole by the `image` crate, then handed out row by row.

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
