//! The FLIP kernel on the CPU.

use crate::engine::Band;
use crate::engine::flip::FlipRule;

/// See `Engine::flip_band`.
pub fn flip_band(_band: &Band, _rule: &FlipRule, _parallel: bool, _out: &mut Vec<f32>) {
    todo!()
}
