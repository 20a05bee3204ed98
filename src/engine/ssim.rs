//! The SSIM rule both engines apply (Wang, Bovik, Sheikh and Simoncelli 2004).

use crate::pixel::Layout;

/// Rows of context the window reads on each side of a pixel.
pub const RADIUS: u32 = 5;

/// The dynamic range of one SSIM comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct SsimRule {
    /// The largest sample value: 255, 65535, or 1 for floating point.
    pub range: f64,
}

impl SsimRule {
    /// Colour channels compared for images of `layout`: 1 for grey, 3 for colour.
    pub fn channels(&self, layout: Layout) -> usize {
        if layout.channels >= 3 { 3 } else { 1 }
    }
}
