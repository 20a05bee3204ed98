//! A render-like scene for the render-metric benchmark: shaded spheres over a checkered floor
//! and a graded sky, in linear light, sampled per pixel; the test image of a pair is the same
//! scene moved by a fraction of a pixel, sampled over a wider footprint (a blur) and with other
//! noise. Written as 8-bit sRGB PNG (row by row) or as linear float OpenEXR.

use std::path::Path;

use super::BoxError;
use super::scene::{RowSource, hash3};

/// How one image of a pair is sampled.
#[derive(Clone, Copy)]
pub struct Sampling {
    /// Samples per pixel along each axis (1: the pixel's centre).
    pub grid: u32,
    /// Width of the square the samples cover, in pixels (1: the pixel; more: a box blur).
    pub footprint: f32,
    /// Offset of the whole scene, in pixels.
    pub shift: (f32, f32),
    /// Amplitude of the per-pixel noise, relative to the pixel's value (0: none).
    pub noise: f32,
    pub seed: u64,
}

impl Sampling {
    /// The reference (`test` false) or test image of a pair; `noisy` adds render noise.
    pub fn pair_member(test: bool, grid: u32, noisy: bool) -> Sampling {
        Sampling {
            grid,
            footprint: if test { 1.6 } else { 1.0 },
            shift: if test { (0.45, 0.3) } else { (0.0, 0.0) },
            noise: if noisy { 0.06 } else { 0.0 },
            seed: u64::from(test) + 1,
        }
    }
}

struct Sphere {
    centre: (f32, f32),
    radius: f32,
    colour: [f32; 3],
}

/// Spheres in units of the image's height, x from the left and y from the top.
const SPHERES: [Sphere; 4] = [
    Sphere {
        centre: (0.42, 0.52),
        radius: 0.2,
        colour: [0.8, 0.18, 0.12],
    },
    Sphere {
        centre: (0.95, 0.6),
        radius: 0.16,
        colour: [0.15, 0.45, 0.85],
    },
    Sphere {
        centre: (1.38, 0.5),
        radius: 0.24,
        colour: [0.85, 0.8, 0.75],
    },
    Sphere {
        centre: (0.7, 0.82),
        radius: 0.08,
        colour: [0.2, 0.7, 0.25],
    },
];

const HORIZON: f32 = 0.55;
/// Direction towards the light (normalised when used).
const LIGHT: [f32; 3] = [-0.5, -0.7, 0.6];

/// The scene's linear RGB at (u, v), in units of the image's height; sky up to about 1, the
/// spheres' highlights up to about 6.
fn radiance(u: f32, v: f32, aspect: f32) -> [f32; 3] {
    let norm = (LIGHT[0] * LIGHT[0] + LIGHT[1] * LIGHT[1] + LIGHT[2] * LIGHT[2]).sqrt();
    let light = LIGHT.map(|c| c / norm);
    for s in &SPHERES {
        let (dx, dy) = ((u - s.centre.0) / s.radius, (v - s.centre.1) / s.radius);
        let r2 = dx * dx + dy * dy;
        if r2 < 1.0 {
            let normal = [dx, dy, (1.0 - r2).sqrt()];
            let lambert =
                (normal[0] * light[0] + normal[1] * light[1] + normal[2] * light[2]).max(0.0);
            // Blinn-Phong with the viewer along +z.
            let half = [light[0], light[1], light[2] + 1.0];
            let half_norm = (half[0] * half[0] + half[1] * half[1] + half[2] * half[2]).sqrt();
            let spec = ((normal[0] * half[0] + normal[1] * half[1] + normal[2] * half[2])
                / half_norm)
                .max(0.0)
                .powi(40);
            return s.colour.map(|c| c * (0.08 + 0.9 * lambert) + 5.0 * spec);
        }
    }
    if v < HORIZON {
        let t = v / HORIZON;
        let glow = (-((u - 0.3 * aspect).powi(2) + (v - 0.15).powi(2)) * 12.0).exp();
        return [
            0.25 + 0.45 * t + 0.6 * glow,
            0.4 + 0.35 * t + 0.5 * glow,
            0.85 - 0.2 * t + 0.3 * glow,
        ];
    }
    // A floor in perspective: depth from the distance below the horizon.
    let depth = 0.35 / (v - HORIZON).max(1e-4);
    let across = (u - 0.5 * aspect) * depth;
    let check = ((across * 2.0).floor() + (depth * 2.0).floor()) as i64 % 2 == 0;
    let fade = (-depth * 0.08).exp();
    let mut shade = if check { 0.7 } else { 0.12 } * fade + 0.3 * (1.0 - fade);
    // Soft shadows under the spheres.
    for s in &SPHERES {
        let foot = (s.centre.0, s.centre.1 + s.radius * 0.9);
        let d2 =
            ((u - foot.0) / (s.radius * 1.4)).powi(2) + ((v - foot.1) / (s.radius * 0.35)).powi(2);
        shade *= 1.0 - 0.7 * (-d2 * 2.0).exp();
    }
    [shade, shade * 0.95, shade * 0.88]
}

/// Samples the scene for the pixel at (x, y) of an image `height` rows high and `aspect` times
/// as wide: linear RGB.
pub fn pixel(x: u32, y: u32, height: u32, aspect: f32, sampling: &Sampling) -> [f32; 3] {
    let n = sampling.grid.max(1);
    let scale = 1.0 / height as f32;
    let mut sum = [0.0f32; 3];
    for j in 0..n {
        for i in 0..n {
            let off = |k: u32| ((k as f32 + 0.5) / n as f32 - 0.5) * sampling.footprint;
            let px = x as f32 + 0.5 + off(i) - sampling.shift.0;
            let py = y as f32 + 0.5 + off(j) - sampling.shift.1;
            let c = radiance(px * scale, py * scale, aspect);
            for k in 0..3 {
                sum[k] += c[k];
            }
        }
    }
    let count = (n * n) as f32;
    let grain = if sampling.noise > 0.0 {
        let h = hash3(u64::from(x), u64::from(y), sampling.seed);
        1.0 + sampling.noise * ((h >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0
    } else {
        1.0
    };
    sum.map(|s| s / count * grain)
}

/// Linear light to an 8-bit sRGB sample, clipped to [0, 1] first.
pub fn srgb8(linear: f32) -> u8 {
    let c = linear.clamp(0.0, 1.0);
    let encoded = if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    (encoded * 255.0 + 0.5) as u8
}

/// The scene as 8-bit sRGB RGB rows, for the streaming PNG writer.
pub struct RenderRows {
    pub width: u32,
    pub height: u32,
    pub sampling: Sampling,
}

impl RowSource for RenderRows {
    fn fill(&mut self, y: u32, row: &mut [u8]) {
        let aspect = self.width as f32 / self.height as f32;
        for (x, out) in row.chunks_exact_mut(3).enumerate() {
            let c = pixel(x as u32, y, self.height, aspect, &self.sampling);
            for k in 0..3 {
                out[k] = srgb8(c[k]);
            }
        }
    }
}

/// Writes the scene as a linear float RGB OpenEXR (ZIP blocks of 16 lines).
pub fn write_exr(path: &Path, size: (u32, u32), sampling: Sampling) -> Result<(), BoxError> {
    use exr::prelude::{
        Blocks, Compression, Encoding, Image, Layer, LayerAttributes, LineOrder, SpecificChannels,
        Vec2, WritableImage,
    };
    let aspect = size.0 as f32 / size.1 as f32;
    let pixels = SpecificChannels::rgb(move |Vec2(x, y): Vec2<usize>| {
        let c = pixel(x as u32, y as u32, size.1, aspect, &sampling);
        (c[0], c[1], c[2])
    });
    let encoding = Encoding {
        compression: Compression::ZIP16,
        blocks: Blocks::ScanLines,
        line_order: LineOrder::Increasing,
    };
    let layer = Layer::new(
        (size.0 as usize, size.1 as usize),
        LayerAttributes::default(),
        encoding,
        pixels,
    );
    let tmp = path.with_extension("exr.tmp");
    Image::from_layer(layer).write().to_file(&tmp)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
