//! The rows around a band that the anti-aliasing test reads, and the perceptual kernel run on
//! a band with them.

use super::{Pipeline, Shared, Work};
use crate::engine::{Band, Engine};
use crate::error::Error;
use crate::pixel::Samples;

impl Pipeline<'_, '_> {
    /// Copies into `work.below` each image's rows (up to `halo`) after `band`, from the bands
    /// waiting after it.
    pub(super) fn gather_below(&self, shared: &Shared, work: &mut Work, band: &Band) {
        let depth = self.header.layout.depth;
        for (k, below) in work.below.iter_mut().enumerate() {
            below.reset(depth, 0);
            let mut wanted = self.halo as usize * band.row_len();
            for next in shared.waiting[k].iter() {
                let take = wanted.min(next.len());
                below.extend_from(next, 0..take);
                wanted -= take;
            }
        }
    }

    /// Fills `work.planes` of `perception` for `band`, whose pixels are as decoded: with the
    /// rows around it when the anti-aliasing test needs them, and without the kernel at all
    /// when both images' rows are equal (then it returns true), as `equal` says when known.
    /// Keeps the band's last rows for the next.
    pub(super) fn perceive(
        &self,
        engine: &mut (dyn Engine + Send),
        work: &mut Work,
        band: &Band,
        equal: Option<bool>,
    ) -> Result<bool, Error> {
        let Some(perception) = &mut work.perception else {
            return Ok(false);
        };
        let depth = self.header.layout.depth;
        let row_len = band.row_len();
        let equal = equal.unwrap_or_else(|| band.a.as_bytes() == band.b.as_bytes());
        let result = if equal {
            let pixels = band.rows as usize * band.width as usize;
            perception.planes.reset(pixels, &perception.rule);
            Ok(())
        } else {
            let halo_band = (self.halo > 0).then(|| {
                let [a, b] = [0, 1].map(|k| {
                    let mut held = std::mem::replace(&mut work.held[k], Samples::zeroed(depth, 0));
                    held.reset(depth, 0);
                    let (above, own, below) =
                        (&work.above[k], [&band.a, &band.b][k], &work.below[k]);
                    for part in [above, own, below] {
                        held.extend_from(part, 0..part.len());
                    }
                    held
                });
                Band {
                    halo_above: (work.above[0].len() / row_len) as u32,
                    halo_below: (work.below[0].len() / row_len) as u32,
                    a,
                    b,
                    ..*band
                }
            });
            // The previous band's regions are labelled meanwhile.
            let (labeller, rule, planes) = (
                &mut perception.labeller,
                &perception.rule,
                &mut perception.planes,
            );
            let target = halo_band.as_ref().unwrap_or(band);
            let ((), result) = rayon::join(
                || labeller.catch_up(),
                || engine.perceive_band(target, rule, planes),
            );
            if let Some(halo_band) = halo_band {
                work.held = [halo_band.a, halo_band.b];
            }
            result
        };
        if self.halo > 0 {
            for (k, own) in [&band.a, &band.b].into_iter().enumerate() {
                let mut kept = Samples::zeroed(depth, 0);
                let above = &work.above[k];
                let keep = self.halo as usize * row_len;
                let from_above = keep.saturating_sub(own.len()).min(above.len());
                kept.extend_from(above, above.len() - from_above..above.len());
                kept.extend_from(own, own.len().saturating_sub(keep)..own.len());
                work.above[k] = kept;
            }
        }
        result.map(|()| equal)
    }
}
