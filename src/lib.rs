//! diffimg: how different two images are, per pixel.

pub mod engine;
pub mod error;
pub mod pixel;
