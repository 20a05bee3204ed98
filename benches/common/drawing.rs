//! Anti-aliased vector drawings for the perceptual benchmark: strokes, rings, panels and
//! text-like glyphs, each pixel covered in proportion to a 4x4 grid of samples, the whole
//! drawing optionally moved by a fraction of a pixel. Two copies of one drawing, the second
//! moved a little, differ almost only in anti-aliased edge pixels.

use super::scene::{RowSource, hash3};

/// Samples per pixel side.
const GRID: u32 = 4;

#[derive(Clone, Copy)]
pub enum Shape {
    /// A segment with round ends, `half` pixels either side of it.
    Stroke {
        from: (f32, f32),
        to: (f32, f32),
        half: f32,
    },
    /// A circle's outline of radius `radius`, `half` pixels either side of it.
    Ring {
        centre: (f32, f32),
        radius: f32,
        half: f32,
    },
    /// A filled rectangle with fractional edges.
    Panel { x0: f32, y0: f32, x1: f32, y1: f32 },
}

impl Shape {
    /// Bounding box `(x0, y0, x1, y1)`.
    fn bounds(&self) -> (f32, f32, f32, f32) {
        match *self {
            Shape::Stroke { from, to, half } => (
                from.0.min(to.0) - half,
                from.1.min(to.1) - half,
                from.0.max(to.0) + half,
                from.1.max(to.1) + half,
            ),
            Shape::Ring {
                centre,
                radius,
                half,
            } => {
                let r = radius + half;
                (centre.0 - r, centre.1 - r, centre.0 + r, centre.1 + r)
            }
            Shape::Panel { x0, y0, x1, y1 } => (x0, y0, x1, y1),
        }
    }

    /// Whether (x, y) is inside the shape grown by `margin` pixels.
    fn within(&self, x: f32, y: f32, margin: f32) -> bool {
        match *self {
            Shape::Stroke { from, to, half } => {
                let (vx, vy) = (to.0 - from.0, to.1 - from.1);
                let (wx, wy) = (x - from.0, y - from.1);
                let len2 = vx * vx + vy * vy;
                let t = if len2 > 0.0 {
                    ((wx * vx + wy * vy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (dx, dy) = (wx - t * vx, wy - t * vy);
                dx * dx + dy * dy <= (half + margin) * (half + margin)
            }
            Shape::Ring {
                centre,
                radius,
                half,
            } => {
                let d = ((x - centre.0).powi(2) + (y - centre.1).powi(2)).sqrt();
                (d - radius).abs() <= half + margin
            }
            Shape::Panel { x0, y0, x1, y1 } => {
                x >= x0 - margin && x < x1 + margin && y >= y0 - margin && y < y1 + margin
            }
        }
    }
}

/// Shapes painted in order over a background, moved by `shift` pixels.
pub struct Drawing {
    pub background: [u8; 4],
    pub shapes: Vec<(Shape, [u8; 4])>,
    pub shift: (f32, f32),
}

impl Drawing {
    pub fn new(background: [u8; 4]) -> Drawing {
        Drawing {
            background,
            shapes: Vec::new(),
            shift: (0.0, 0.0),
        }
    }

    pub fn add(&mut self, shape: Shape, color: [u8; 4]) {
        self.shapes.push((shape, color));
    }

    /// Glyph-like marks, one per cell of `size` (width, height) pixels along a line starting
    /// at `origin`, `count` cells long; `seed` picks the glyphs (some cells are spaces).
    pub fn text(
        &mut self,
        origin: (f32, f32),
        size: (f32, f32),
        count: u32,
        seed: u64,
        color: [u8; 4],
    ) {
        // Stroke ends on a 3x5 grid inside the cell, as a segmented font would use.
        let at = |c: f32, i: u64, j: u64| {
            (
                origin.0 + c * size.0 + size.0 * (0.15 + 0.3 * i as f32),
                origin.1 + size.1 * (0.15 + 0.175 * j as f32),
            )
        };
        let half = (size.1 * 0.055).max(0.45);
        for cell in 0..count {
            let glyph = hash3(seed, u64::from(cell), 0x61);
            if glyph.is_multiple_of(7) {
                continue;
            }
            let strokes = 2 + glyph % 4;
            for s in 0..strokes {
                let h = hash3(glyph, s, 0x62);
                let (i0, j0) = (h % 3, (h >> 8) % 5);
                let (mut i1, mut j1) = ((h >> 16) % 3, (h >> 24) % 5);
                if (i0, j0) == (i1, j1) {
                    (i1, j1) = ((i0 + 1) % 3, (j0 + 2) % 5);
                }
                let c = cell as f32;
                let shape = Shape::Stroke {
                    from: at(c, i0, j0),
                    to: at(c, i1, j1),
                    half,
                };
                self.add(shape, color);
            }
        }
    }
}

/// A random dark opaque colour.
pub fn dark(rng: &mut fastrand::Rng) -> [u8; 4] {
    [rng.u8(0..120), rng.u8(0..120), rng.u8(0..160), 255]
}

/// Strokes of many widths and angles, and rings, dark on the background.
pub fn strokes(drawing: &mut Drawing, w: f32, h: f32, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..160 {
        let from = (rng.f32() * w, rng.f32() * h);
        let to = (
            from.0 + (rng.f32() - 0.5) * w * 0.5,
            from.1 + (rng.f32() - 0.5) * h * 0.5,
        );
        let half = 0.3 + rng.f32() * 1.4;
        drawing.add(Shape::Stroke { from, to, half }, dark(&mut rng));
    }
    for _ in 0..24 {
        let centre = (rng.f32() * w, rng.f32() * h);
        let (radius, half) = (4.0 + rng.f32() * h * 0.2, 0.4 + rng.f32());
        drawing.add(
            Shape::Ring {
                centre,
                radius,
                half,
            },
            dark(&mut rng),
        );
    }
}

/// Coloured panels with fractional edges and lines of glyphs, some of them on the panels.
pub fn text_page(drawing: &mut Drawing, w: f32, h: f32, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..6 {
        let (x0, y0) = (rng.f32() * w * 0.8, rng.f32() * h * 0.8);
        let (x1, y1) = (
            x0 + 40.0 + rng.f32() * w * 0.3,
            y0 + 20.0 + rng.f32() * h * 0.2,
        );
        let color = [rng.u8(170..250), rng.u8(170..250), rng.u8(170..250), 255];
        drawing.add(Shape::Panel { x0, y0, x1, y1 }, color);
    }
    let mut y = 6.3;
    while y + 16.0 < h {
        let size = if rng.u8(0..5) == 0 {
            (10.6, 19.1)
        } else {
            (7.4, 13.2)
        };
        let x = 8.0 + rng.f32() * 40.0;
        let count = ((w - x) / size.0) as u32;
        let count = rng.u32(count / 3..=count.max(1));
        drawing.text((x, y), size, count, rng.u64(..), dark(&mut rng));
        y += size.1 * 1.4;
    }
}

/// A drawing rendered row by row, with each shape's rows known in advance.
pub struct Rendered {
    drawing: Drawing,
    /// Per shape: the pixel rows and columns its bounding box (moved) reaches.
    reach: Vec<(u32, u32, u32, u32)>,
    channels: usize,
}

impl Rendered {
    pub fn new(drawing: Drawing, channels: usize) -> Rendered {
        let (sx, sy) = drawing.shift;
        let reach = drawing
            .shapes
            .iter()
            .map(|(shape, _)| {
                let (x0, y0, x1, y1) = shape.bounds();
                let lo = |v: f32| (v.floor().max(0.0)) as u32;
                let hi = |v: f32| (v.ceil().max(0.0)) as u32 + 1;
                (lo(x0 + sx), lo(y0 + sy), hi(x1 + sx), hi(y1 + sy))
            })
            .collect();
        Rendered {
            drawing,
            reach,
            channels,
        }
    }
}

impl RowSource for Rendered {
    fn fill(&mut self, y: u32, row: &mut [u8]) {
        let ch = self.channels;
        let width = (row.len() / ch) as u32;
        let mut acc: Vec<[f32; 4]> = vec![self.drawing.background.map(f32::from); width as usize];
        let (sx, sy) = self.drawing.shift;
        let n = (GRID * GRID) as f32;
        for ((shape, color), &(x0, y0, x1, y1)) in self.drawing.shapes.iter().zip(&self.reach) {
            if y < y0 || y >= y1 {
                continue;
            }
            for x in x0..x1.min(width) {
                // Every sample lies within 0.54 pixels of the centre: skip pixels far away.
                let centre = (x as f32 + 0.5 - sx, y as f32 + 0.5 - sy);
                if !shape.within(centre.0, centre.1, 0.75) {
                    continue;
                }
                let mut inside = 0u32;
                for j in 0..GRID {
                    for i in 0..GRID {
                        let px = x as f32 + (i as f32 + 0.5) / GRID as f32 - sx;
                        let py = y as f32 + (j as f32 + 0.5) / GRID as f32 - sy;
                        inside += u32::from(shape.within(px, py, 0.0));
                    }
                }
                if inside > 0 {
                    let cover = inside as f32 / n;
                    let px = &mut acc[x as usize];
                    for k in 0..4 {
                        px[k] += (f32::from(color[k]) - px[k]) * cover;
                    }
                }
            }
        }
        for (out, px) in row.chunks_exact_mut(ch).zip(&acc) {
            for k in 0..ch {
                out[k] = px[k].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}
