//! Diff image formats other than PNG's stream: which format an extension names, whether it can
//! hold the diff image (checked before anything is compared), and encoding it whole at the end.
//! They hold the whole image in memory, so they are refused above the limit on images decoded
//! whole; PNG, written band by band, has no such limit.

use std::io::Write;
use std::path::Path;

use image::codecs::pnm::{PnmEncoder, PnmSubtype, SampleEncoding};
use image::{DynamicImage, ImageBuffer, ImageEncoder, ImageFormat};

use crate::decode::Header;
use crate::pixel::{Layout, Samples};

/// A diff image's format, from its file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// PNG, streamed.
    Png,
    /// Another format, encoded whole; PNM files get the subtype their extension names.
    Whole(ImageFormat, Option<PnmSubtype>),
}

impl Format {
    /// The format of `target`'s extension; PNG without one.
    pub(crate) fn of(target: &Path) -> Result<Format, String> {
        let Some(ext) = target.extension() else {
            return Ok(Format::Png);
        };
        let lower = ext.to_string_lossy().to_ascii_lowercase();
        let binary = SampleEncoding::Binary;
        let pnm = match lower.as_str() {
            "pbm" => {
                return Err(
                    "PBM holds one bit per pixel, not the diff's samples; use .pgm, .ppm, .pam \
                     or .png"
                        .into(),
                );
            }
            "pgm" => Some(PnmSubtype::Graymap(binary)),
            "ppm" => Some(PnmSubtype::Pixmap(binary)),
            "pam" => Some(PnmSubtype::ArbitraryMap),
            _ => None,
        };
        match ImageFormat::from_extension(ext) {
            Some(ImageFormat::Png) => Ok(Format::Png),
            Some(ImageFormat::Gif) => Err(
                "GIF holds at most 256 colours, so the diff's values would be changed; use .png"
                    .into(),
            ),
            Some(format) if format.writing_enabled() => Ok(Format::Whole(format, pnm)),
            _ => Err(format!("cannot write images with extension '{lower}'")),
        }
    }

    /// Whether this format holds floating-point samples in `layout`: OpenEXR any, TIFF one
    /// grey channel (a render metric's map).
    pub(crate) fn holds_floats(self, layout: Layout) -> bool {
        match self {
            Format::Whole(ImageFormat::OpenExr, None) => true,
            Format::Whole(ImageFormat::Tiff, None) => layout.channels == 1,
            _ => false,
        }
    }

    /// Refuses, before anything is compared, a diff image of `header` that this format cannot
    /// hold exactly or that is larger than `max_pixels` (held whole in memory). `opaque`: the
    /// diff's alpha is 255 everywhere (alpha ignored), so a format may drop it.
    pub(crate) fn check(self, header: Header, opaque: bool, max_pixels: u64) -> Result<(), String> {
        let Format::Whole(format, pnm) = self else {
            return Ok(());
        };
        let name = format
            .extensions_str()
            .first()
            .copied()
            .unwrap_or("this format");
        let (width, height) = (header.width, header.height);
        let side = match format {
            ImageFormat::WebP => 16383,
            ImageFormat::Jpeg | ImageFormat::Tga => 65535,
            _ => u32::MAX,
        };
        if width > side || height > side {
            return Err(format!(
                "a .{name} image is at most {side} pixels wide and high; this diff is \
                 {width}x{height}: use .png"
            ));
        }
        if header.pixels() > max_pixels {
            return Err(format!(
                "a .{name} diff image is built whole in memory, and {width}x{height} is more \
                 than the {max_pixels} pixels allowed (--max-pixels); .png is written as it goes"
            ));
        }
        let alpha = header.layout.has_alpha() && !opaque;
        let grey = !header.layout.has_colour();
        match pnm {
            Some(PnmSubtype::Graymap(_)) if !grey => {
                Err("PGM holds grey images only and this diff has colour; use .ppm or .pam".into())
            }
            Some(PnmSubtype::Graymap(_) | PnmSubtype::Pixmap(_)) if alpha => Err(format!(
                "{} has no alpha channel and this diff has one; use .pam or .png, or \
                 --ignore-alpha",
                if grey { "PGM" } else { "PPM" }
            )),
            None if format == ImageFormat::Pnm && alpha => Err(
                "PNM has no alpha channel and this diff has one; use .pam or .png, or \
                 --ignore-alpha"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    /// Encodes a whole diff image to `out`.
    pub(crate) fn encode(
        self,
        header: Header,
        samples: Samples,
        out: &mut impl Write,
    ) -> Result<(), String> {
        let Format::Whole(format, pnm) = self else {
            return Err("PNG is written as a stream".into());
        };
        if format == ImageFormat::OpenExr {
            return super::exr::encode(header, samples, out);
        }
        if let (ImageFormat::Tiff, Samples::F32(values)) = (format, &samples) {
            return float_grey_tiff(header, values, out);
        }
        // A .pnm file is a greymap or a pixmap, as the image is grey or not.
        let pnm = match pnm {
            None if format == ImageFormat::Pnm && header.layout.has_colour() => {
                Some(PnmSubtype::Pixmap(SampleEncoding::Binary))
            }
            None if format == ImageFormat::Pnm => Some(PnmSubtype::Graymap(SampleEncoding::Binary)),
            pnm => pnm,
        };
        let image = to_image(header, samples).ok_or("image buffer size mismatch")?;
        let image = for_format(image, format, pnm);
        match pnm {
            Some(subtype) => PnmEncoder::new(out)
                .with_subtype(subtype)
                .write_image(
                    image.as_bytes(),
                    image.width(),
                    image.height(),
                    image.color().into(),
                )
                .map_err(|e| e.to_string()),
            None => {
                let mut seekable = std::io::Cursor::new(Vec::new());
                image
                    .write_to(&mut seekable, format)
                    .map_err(|e| e.to_string())?;
                out.write_all(seekable.get_ref()).map_err(|e| e.to_string())
            }
        }
    }
}

/// One grey channel of 32-bit floats as TIFF (the `image` crate has no such type).
fn float_grey_tiff(header: Header, values: &[f32], out: &mut impl Write) -> Result<(), String> {
    let mut seekable = std::io::Cursor::new(Vec::new());
    tiff::encoder::TiffEncoder::new(&mut seekable)
        .and_then(|mut tiff| {
            tiff.write_image::<tiff::encoder::colortype::Gray32Float>(
                header.width,
                header.height,
                values,
            )
        })
        .map_err(|e| e.to_string())?;
    out.write_all(seekable.get_ref()).map_err(|e| e.to_string())
}

/// Samples of a whole image as the `image` crate's type.
fn to_image(header: Header, samples: Samples) -> Option<DynamicImage> {
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
        (Samples::F32(_), _) => {
            unreachable!("floating-point diffs are clamped to 16 bits for formats but OpenEXR")
        }
    })
}

/// Converts a diff image to a layout `format` can encode. JPEG drops alpha (as diffimg's JPEG
/// output does); PGM and PPM (and PNM, one or the other), checked beforehand, drop only an
/// alpha of 255; formats without 16-bit samples get 8 (so do PGM and PPM: their encoder has
/// none); BMP, whose grey has no alpha, gets RGBA for grey+alpha; TIFF has no grey+alpha
/// encoder, nor PAM at 16 bits: those get RGBA.
fn for_format(image: DynamicImage, format: ImageFormat, pnm: Option<PnmSubtype>) -> DynamicImage {
    let colour = image.color();
    let (grey, alpha) = (colour.channel_count() <= 2, colour.has_alpha());
    let sixteen = colour.bytes_per_pixel() > colour.channel_count();
    match (format, pnm) {
        (ImageFormat::Pnm, Some(PnmSubtype::Graymap(_))) => image.to_luma8().into(),
        (ImageFormat::Pnm, Some(PnmSubtype::Pixmap(_))) => image.to_rgb8().into(),
        (ImageFormat::Tiff | ImageFormat::Pnm, _) if grey && alpha && sixteen => {
            image.to_rgba16().into()
        }
        (ImageFormat::Tiff, _) if grey && alpha => image.to_rgba8().into(),
        (ImageFormat::Tiff | ImageFormat::Pnm, _) => image,
        (ImageFormat::Jpeg, _) if grey => image.to_luma8().into(),
        (ImageFormat::Jpeg, _) => image.to_rgb8().into(),
        (ImageFormat::Bmp, _) if grey && alpha => image.to_rgba8().into(),
        (ImageFormat::Tga, _) if grey && alpha => image.to_luma_alpha8().into(),
        (ImageFormat::Bmp | ImageFormat::Tga, _) if grey => image.to_luma8().into(),
        _ if alpha => image.to_rgba8().into(),
        _ => image.to_rgb8().into(),
    }
}
