//! The pixels of a band on a union canvas: those only one image covers, which are changed,
//! and those neither covers, which are not compared.

use super::Pipeline;
use crate::canvas::only_one_stats;
use crate::engine::{Band, Bounds, Stats};

impl Pipeline<'_, '_> {
    /// On a union canvas, the pixels of rows `y..y + rows` that only one image covers
    /// (`missing`) and those that neither covers (`uncovered`).
    pub(super) fn coverage(
        &self,
        y: u32,
        rows: u32,
        missing: &mut Vec<usize>,
        uncovered: &mut Vec<usize>,
    ) {
        missing.clear();
        uncovered.clear();
        let Some(sizes) = self.covered else {
            return;
        };
        let full = self.header.width as usize;
        for row in y..y + rows {
            let base = (row - y) as usize * full;
            // The width each image covers in this row.
            let [a, b] = sizes.map(|(w, h)| if row < h { w as usize } else { 0 });
            missing.extend((a.min(b)..a.max(b)).map(|x| base + x));
            uncovered.extend((a.max(b)..full).map(|x| base + x));
        }
    }

    /// The ratio's figures for pixels only one image covers.
    pub(super) fn missing_stats(&self, band: &Band, missing: &[usize]) -> Stats {
        let width = band.width as usize;
        let at = |i: usize| ((i % width) as u32, band.y + (i / width) as u32);
        let bounds = missing.iter().fold(None, |bounds: Option<Bounds>, &i| {
            let (x, y) = at(i);
            let point = Bounds {
                x0: x,
                y0: y,
                x1: x,
                y1: y,
            };
            Some(bounds.map_or(point, |b| b.union(point)))
        });
        // Indices are in row order.
        let first = missing.first().map(|&i| at(i));
        only_one_stats(band.layout, missing.len() as u64, bounds, first)
    }
}
