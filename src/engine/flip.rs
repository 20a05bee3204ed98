//! The FLIP rule both engines apply (Andersson et al. 2020; HDR-FLIP 2021).

/// The observer and, for floating-point images, the exposures of one FLIP comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct FlipRule {
    /// Pixels per degree of visual angle.
    pub ppd: f32,
}

impl FlipRule {
    /// Rows of context the filters read on each side of a pixel.
    pub fn halo(&self) -> u32 {
        todo!()
    }
}
