//! The rows around a band that the kernels with a reach read (the anti-aliasing test, FLIP's
//! and SSIM's filters), and those kernels run on a band with them.

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

    /// Runs the kernels that read beyond a pixel on `band`, whose pixels are as decoded: the
    /// perceptual kernel (filling `work.perception`'s planes) and the render metrics (pooled
    /// in `work.metrics` but for the pixels `work.pixels` leaves out), with the rows around the
    /// band when they read them. Where both images are equal (as `equal` says of the band's own
    /// rows when known), no kernel runs: the perceptual kernel when the band's rows are equal,
    /// the render metrics when its context rows are too. Returns whether the band's rows are
    /// equal. Keeps the band's last rows for the next.
    pub(super) fn perceive(
        &self,
        engine: &mut (dyn Engine + Send),
        work: &mut Work,
        band: &Band,
        equal: Option<bool>,
    ) -> Result<bool, Error> {
        if work.perception.is_none() && work.metrics.is_none() {
            return Ok(false);
        }
        let equal = equal.unwrap_or_else(|| band.a.as_bytes() == band.b.as_bytes());
        let context_equal = equal
            && work.above[0].as_bytes() == work.above[1].as_bytes()
            && work.below[0].as_bytes() == work.below[1].as_bytes();
        let context = (self.halo > 0 && !context_equal).then(|| self.context(work, band));
        let target = context.as_ref().unwrap_or(band);
        let result = self.run_kernels(engine, work, band, target, equal, context_equal);
        if let Some(context) = context {
            work.held = [context.a, context.b];
        }
        self.keep_above(work, band);
        result.map(|()| equal)
    }

    /// `band` with each image's rows around it (`work.above`, `work.below`), in `work.held`'s
    /// buffers.
    fn context(&self, work: &mut Work, band: &Band) -> Band {
        let depth = self.header.layout.depth;
        let [a, b] = [0, 1].map(|k| {
            let mut held = std::mem::replace(&mut work.held[k], Samples::zeroed(depth, 0));
            held.reset(depth, 0);
            let (above, own, below) = (&work.above[k], [&band.a, &band.b][k], &work.below[k]);
            for part in [above, own, below] {
                held.extend_from(part, 0..part.len());
            }
            held
        });
        let row_len = band.row_len();
        Band {
            halo_above: (work.above[0].len() / row_len) as u32,
            halo_below: (work.below[0].len() / row_len) as u32,
            a,
            b,
            ..*band
        }
    }

    /// The perceptual kernel and the render metrics on `target` (`band` with its context).
    fn run_kernels(
        &self,
        engine: &mut (dyn Engine + Send),
        work: &mut Work,
        band: &Band,
        target: &Band,
        equal: bool,
        context_equal: bool,
    ) -> Result<(), Error> {
        let pixels = band.rows as usize * band.width as usize;
        let left_out = &work.pixels;
        if let Some(metrics) = &mut work.metrics {
            metrics.measure(engine, target, context_equal, left_out)?;
        }
        let Some(perception) = &mut work.perception else {
            return Ok(());
        };
        if equal {
            perception.planes.reset(pixels, &perception.rule);
            return Ok(());
        }
        // The previous band's regions are labelled meanwhile.
        let (labeller, rule, planes) = (
            &mut perception.labeller,
            &perception.rule,
            &mut perception.planes,
        );
        let ((), result) = rayon::join(
            || labeller.catch_up(),
            || engine.perceive_band(target, rule, planes),
        );
        result
    }

    /// Keeps each image's last rows (up to `halo`) of the bands seen so far, `band` included.
    fn keep_above(&self, work: &mut Work, band: &Band) {
        if self.halo == 0 {
            return;
        }
        let depth = self.header.layout.depth;
        let row_len = band.row_len();
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
}
