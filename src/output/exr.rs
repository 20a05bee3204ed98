//! OpenEXR diff images: every sample a 32-bit float (integer samples scaled to 0..1), grey as a
//! Y channel, in ZIP blocks of 16 lines written top to bottom, so that an image always gives
//! the same bytes.

use std::io::{Cursor, Write};

use exr::prelude::{
    Blocks, Compression, Encoding, Image, Layer, LayerAttributes, LineOrder, SpecificChannels,
    Vec2, WritableImage,
};

use crate::decode::Header;
use crate::pixel::Samples;

/// Encodes a whole diff image to `out`.
pub(crate) fn encode(header: Header, samples: Samples, out: &mut impl Write) -> Result<(), String> {
    let floats: Vec<f32> = match samples {
        Samples::F32(v) => v,
        Samples::U8(v) => v.into_iter().map(|s| f32::from(s) / 255.0).collect(),
        Samples::U16(v) => v.into_iter().map(|s| f32::from(s) / 65535.0).collect(),
    };
    let (width, height) = (header.width as usize, header.height as usize);
    let channels = usize::from(header.layout.channels);
    if floats.len() != width * height * channels {
        return Err("image buffer size mismatch".into());
    }
    let at = |p: Vec2<usize>, c: usize| floats[(p.y() * width + p.x()) * channels + c];
    let encoding = Encoding {
        compression: Compression::ZIP16,
        blocks: Blocks::ScanLines,
        line_order: LineOrder::Increasing,
    };
    let mut buffer = Cursor::new(Vec::new());
    macro_rules! write {
        ($pixels:expr) => {{
            let layer = Layer::new(
                (width, height),
                LayerAttributes::default(),
                encoding,
                $pixels,
            );
            Image::from_layer(layer).write().to_buffered(&mut buffer)
        }};
    }
    let builder = SpecificChannels::build();
    match channels {
        1 => write!(builder.with_channel("Y").with_pixel_fn(|p| (at(p, 0),))),
        2 => write!(
            builder
                .with_channel("Y")
                .with_channel("A")
                .with_pixel_fn(|p| (at(p, 0), at(p, 1)))
        ),
        3 => write!(SpecificChannels::rgb(|p| (at(p, 0), at(p, 1), at(p, 2)))),
        _ => write!(SpecificChannels::rgba(|p| (
            at(p, 0),
            at(p, 1),
            at(p, 2),
            at(p, 3)
        ))),
    }
    .map_err(|e| e.to_string())?;
    out.write_all(buffer.get_ref()).map_err(|e| e.to_string())
}
