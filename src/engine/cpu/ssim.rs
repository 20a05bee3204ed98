//! The SSIM kernel on the CPU.

use crate::engine::Band;
use crate::engine::ssim::SsimRule;

/// See `Engine::ssim_band`.
pub fn ssim_band(_band: &Band, _rule: &SsimRule, _parallel: bool, _out: &mut Vec<f32>) {
    todo!()
}
