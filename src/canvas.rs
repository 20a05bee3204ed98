//! The union canvas: an image placed at the top left of a larger canvas, its rows padded with
//! zero samples on the right and zero rows below. The padding's figures are the pipeline's to
//! set (a pixel only one image covers counts as changed, one neither covers is not compared),
//! not the engines'. Where one image is wider and the other taller, the rows below the wider
//! one hold only the taller one's pixels: their figures are known without comparing, and
//! [`below`] gives them with work per row, not per pixel.

use crate::decode::{Header, RowSource};
use crate::engine::{Bounds, MaxAt, Stats};
use crate::error::Error;
use crate::ignore::Ignored;
use crate::perception::Perception;
use crate::pixel::{Depth, Layout, Samples};

/// `inner`'s rows on a canvas of `width` x `height`: padded, or cut to `height` rows (the rows
/// cut are still decoded, and their errors reported, after the last row).
pub struct Padded {
    inner: Box<dyn RowSource>,
    header: Header,
    next_row: u32,
    scratch: Samples,
}

impl Padded {
    pub fn new(inner: Box<dyn RowSource>, width: u32, height: u32) -> Padded {
        let own = inner.header();
        Padded {
            header: Header {
                width,
                height,
                ..own
            },
            scratch: Samples::zeroed(own.layout.depth, 0),
            inner,
            next_row: 0,
        }
    }

    /// Decodes the rows of `inner` past the canvas, a few at a time, for their errors.
    fn drain(&mut self) -> Result<(), Error> {
        let own = self.inner.header();
        let at_once = ((1u32 << 16) / own.width.max(1)).max(1);
        let mut row = self.header.height;
        while row < own.height {
            let rows = at_once.min(own.height - row);
            self.inner.read_rows(rows, &mut self.scratch)?;
            row += rows;
        }
        Ok(())
    }
}

impl RowSource for Padded {
    fn header(&self) -> Header {
        self.header
    }

    fn decodes_as_read(&self) -> bool {
        self.inner.decodes_as_read()
    }

    fn read_rows(&mut self, rows: u32, dst: &mut Samples) -> Result<(), Error> {
        let own = self.inner.header();
        let depth = self.header.layout.depth;
        dst.reset(depth, 0);
        dst.reset(depth, rows as usize * self.header.row_len());
        let real = rows.min(own.height.saturating_sub(self.next_row));
        if real > 0 {
            self.inner.read_rows(real, &mut self.scratch)?;
            let (from, to) = (own.row_len(), self.header.row_len());
            for r in 0..real as usize {
                let src = r * from..(r + 1) * from;
                match (&mut *dst, &self.scratch) {
                    (Samples::U8(d), Samples::U8(s)) => {
                        d[r * to..r * to + from].copy_from_slice(&s[src])
                    }
                    (Samples::U16(d), Samples::U16(s)) => {
                        d[r * to..r * to + from].copy_from_slice(&s[src])
                    }
                    _ => unreachable!("one depth"),
                }
            }
        }
        self.next_row += rows;
        if self.next_row >= self.header.height {
            self.drain()?;
        }
        Ok(())
    }
}

/// The ratio's figures for `count` pixels that only one image covers, in `bounds`, the first
/// in row order at `first`: the largest difference on every channel (1.0 in floating point).
pub(crate) fn only_one_stats(
    layout: Layout,
    count: u64,
    bounds: Option<Bounds>,
    first: Option<(u32, u32)>,
) -> Stats {
    let max = u128::from(layout.depth.max_value());
    let (mut sums, mut squares) = ([0; 4], [0; 4]);
    for c in 0..layout.channels as usize {
        sums[c] = u128::from(count) * max;
        squares[c] = u128::from(count) * max * max;
    }
    let max = match layout.depth {
        Depth::Float => 1f32.to_bits(),
        depth => depth.max_value(),
    };
    Stats {
        sums,
        squares,
        differing: count,
        max: if count > 0 { max } else { 0 },
        // The first channel always counts.
        max_at: first.map(|(x, y)| MaxAt { x, y, channel: 0 }),
        bounds,
        nan: 0,
        inf: 0,
    }
}

/// The rows `y0..y1` of a union canvas that only the taller image covers, in its `width`
/// columns, the rest of each row covered by neither: every pixel there is changed but those
/// left out. Adds them to `perception`, and returns their ratio figures and the pixels left
/// out. Rows alike are handled together, so the work is per row, not per pixel.
pub(crate) fn below(
    [y0, y1]: [u32; 2],
    width: u32,
    layout: Layout,
    ignored: &Ignored,
    mut perception: Option<&mut Perception>,
) -> (Stats, u64) {
    let mut stats = Stats::default();
    let mut left_out = 0;
    if y0 >= y1 {
        return (stats, left_out);
    }
    let (mut group, mut start) = (Vec::new(), y0);
    let mut out = Vec::new();
    for y in y0..=y1 {
        if y < y1 {
            ignored.in_row(y, width, &mut out);
            if y == start || out == group {
                group.clone_from(&out);
                continue;
            }
        }
        // Rows `start..y` leave out the columns in `group`.
        let rows = y - start;
        left_out += u64::from(rows) * group.len() as u64;
        let changed = (0..width).filter(|x| group.binary_search(&(*x as usize)).is_err());
        let (first, last) = (changed.clone().next(), changed.clone().next_back());
        let count = changed.count() as u64;
        if let (Some(x0), Some(x1)) = (first, last) {
            let bounds = Bounds {
                x0,
                y0: start,
                x1,
                y1: y - 1,
            };
            let pixels = count * u64::from(rows);
            let found = only_one_stats(layout, pixels, Some(bounds), Some((x0, start)));
            stats = stats.merge(found);
        }
        if let Some(perception) = perception.as_deref_mut() {
            perception.add_rows_alike(start, rows, width, &group);
        }
        std::mem::swap(&mut group, &mut out);
        start = y;
    }
    (stats, left_out)
}
