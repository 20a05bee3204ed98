//! Render metrics pooled over a whole comparison: FLIP (per-pixel error, its mean, extremes,
//! percentiles and histogram) and SSIM (the mean over the pixels whose whole window lies in
//! the image). Engines fill per-pixel values band by band; the pools here add them up in fixed
//! point, so the figures do not depend on how the image was cut into bands.

pub mod flip;
pub mod ssim;

use std::path::Path;

use crate::decode::{Header, RowSource};
use crate::engine::flip::{self as rule, Exposures, FlipRule, LuminanceScan};
use crate::engine::ssim::{RADIUS, SsimRule};
use crate::engine::{Band, Engine};
use crate::error::Error;
use crate::options::{Canvas, Options};
use crate::pixel::{Depth, Samples};
use flip::{FlipOptions, FlipPool, FlipReport};
use ssim::{SsimPool, SsimReport};

/// Bytes the rows a band's filters reach beyond it may take, per image: a `--ppd` whose
/// filters reach further on a wide image is refused.
const HALO_BYTES: u64 = 256 << 20;
/// Bytes a kernel holds per pixel of those rows: both images' samples widened to f32 and the
/// filters' planes.
const KERNEL_BYTES_PER_PIXEL: u64 = 64;

/// Fixed-point units per 1 in the pools' sums: each value is cut to a multiple of 2^-40
/// (towards zero, one instruction), and their sum is exact in 128 bits and the same in any
/// order.
const UNIT: f64 = (1u64 << 40) as f64;

/// The render metrics of a comparison in progress: each kernel's rule and pool, and the
/// values of the band in hand (which the diff image's styles draw). A band's values are pooled
/// while the kernels compute the next band's.
pub(crate) struct Metrics {
    pub(crate) flip: Option<(FlipRule, FlipPool)>,
    pub(crate) ssim: Option<(SsimRule, SsimPool)>,
    /// FLIP per pixel of the band in hand.
    pub(crate) flip_values: Vec<f32>,
    /// SSIM per pixel and colour channel of the band in hand.
    pub(crate) ssim_values: Vec<f32>,
    /// The last band's values, not pooled yet.
    flip_pending: Pending,
    ssim_pending: Pending,
}

/// A band's values waiting to be pooled.
#[derive(Default)]
struct Pending {
    /// Whether it holds a band.
    held: bool,
    y: u32,
    width: u32,
    values: Vec<f32>,
    left_out: Vec<usize>,
}

impl Pending {
    /// Takes a copy of the band at row `y` whose values are `values`.
    fn hold(&mut self, y: u32, width: u32, values: &[f32], left_out: &[usize]) {
        self.held = true;
        (self.y, self.width) = (y, width);
        self.values.clear();
        self.values.extend_from_slice(values);
        self.left_out.clear();
        self.left_out.extend_from_slice(left_out);
    }

    /// Hands the band held, if any, to `pool`, as (row, width, values, left out).
    fn pool(&mut self, pool: impl FnOnce(u32, u32, &[f32], &[usize])) {
        if std::mem::take(&mut self.held) {
            pool(self.y, self.width, &self.values, &self.left_out);
        }
    }
}

impl Metrics {
    /// The render metrics `options` ask for on two images of `header` named `names`, checked:
    /// `None` when none is asked for. `exposures` gives floating-point images' exposures for
    /// FLIP (found from image 1 before the comparison).
    pub(crate) fn start(
        options: &Options,
        names: [&Path; 2],
        header: Header,
        exposures: Option<Exposures>,
    ) -> Result<Option<Metrics>, Error> {
        let flip = options.flip_wanted();
        let ssim = options.ssim_wanted();
        if flip.is_none() && !ssim {
            return Ok(None);
        }
        let what = match (&flip, ssim) {
            (Some(_), true) => "FLIP and SSIM",
            (Some(_), false) => "FLIP",
            (None, _) => "SSIM",
        };
        if options.canvas == Canvas::Union {
            return Err(Error::input(
                "--canvas union",
                format!("{what} compare images of one size; leave --canvas out, or use --resize"),
            ));
        }
        if header.layout.cmyk {
            return Err(Error::decode(
                names[0],
                format!("is CMYK: {what} are made for grey or RGB images"),
            ));
        }
        let flip = match flip {
            Some(flip) => Some((flip_rule(&flip, header, exposures)?, flip.keep_map)),
            None => None,
        };
        let ssim = match ssim {
            true => Some(ssim_start(names, header)?),
            false => None,
        };
        Ok(Some(Metrics {
            flip: flip.map(|(rule, keep)| (rule, FlipPool::new(keep))),
            ssim,
            flip_values: Vec::new(),
            ssim_values: Vec::new(),
            flip_pending: Pending::default(),
            ssim_pending: Pending::default(),
        }))
    }

    /// The figures: FLIP's with the percentiles `options` ask for, and SSIM's.
    pub(crate) fn finish(&mut self, options: &Options) -> (Option<FlipReport>, Option<SsimReport>) {
        if let Some((_, pool)) = &mut self.flip {
            self.flip_pending.pool(|y, w, v, l| pool.add(y, w, v, l));
        }
        if let Some((_, pool)) = &mut self.ssim {
            self.ssim_pending.pool(|y, _, v, l| pool.add(y, v, l));
        }
        let flip = self.flip.as_mut().map(|(rule, pool)| {
            let extra = options
                .flip
                .as_ref()
                .map_or(&[][..], |f| &f.percentiles[..]);
            pool.finish(extra, f64::from(rule.ppd), rule.hdr)
        });
        (flip, self.ssim.as_ref().map(|(_, pool)| pool.finish()))
    }

    /// Rows of context the kernels read on each side of a band.
    pub(crate) fn halo(&self) -> u32 {
        let flip = self.flip.as_ref().map_or(0, |(rule, _)| rule.halo());
        let ssim = self
            .ssim
            .as_ref()
            .map_or(0, |_| crate::engine::ssim::RADIUS);
        flip.max(ssim)
    }

    /// Runs the kernels on `band` (with its context rows), pooling the last band's values
    /// meanwhile, and keeps this band's values (but for the pixels `left_out`) to pool. When
    /// both images are equal on the band and its context the values are known without the
    /// kernels: FLIP 0 and SSIM 1 everywhere.
    pub(crate) fn measure(
        &mut self,
        engine: &mut (dyn Engine + Send),
        band: &Band,
        equal: bool,
        left_out: &[usize],
    ) -> Result<(), Error> {
        let pixels = band.rows as usize * band.width as usize;
        if let Some((rule, pool)) = &mut self.flip {
            let (values, pending) = (&mut self.flip_values, &mut self.flip_pending);
            let (computed, ()) = rayon::join(
                || match equal {
                    true => {
                        values.clear();
                        values.resize(pixels, 0.0);
                        Ok(())
                    }
                    false => engine.flip_band(band, rule, values),
                },
                || pending.pool(|y, w, v, l| pool.add(y, w, v, l)),
            );
            computed?;
            pending.hold(band.y, band.width, values, left_out);
        }
        if let Some((rule, pool)) = &mut self.ssim {
            let (values, pending) = (&mut self.ssim_values, &mut self.ssim_pending);
            let (computed, ()) = rayon::join(
                || match equal {
                    true => {
                        values.clear();
                        values.resize(pixels * rule.channels(band.layout), 1.0);
                        Ok(())
                    }
                    false => engine.ssim_band(band, rule, values),
                },
                || pending.pool(|y, _, v, l| pool.add(y, v, l)),
            );
            computed?;
            pending.hold(band.y, band.width, values, left_out);
        }
        Ok(())
    }
}

/// Opens image 1 again from its start: floating-point images are read once more to find
/// HDR-FLIP's exposures before they are compared.
pub(crate) type Reopen<'a> = &'a dyn Fn() -> Result<Box<dyn RowSource>, Error>;

/// HDR-FLIP's exposures, for floating-point images of `header` when FLIP is asked for: as
/// given, and what is not given found from image 1 (`name`), read again through `reopen` as
/// many times as the scan needs. `None` for integer images or without FLIP.
pub(crate) fn hdr_exposures(
    name: &Path,
    header: Header,
    options: &Options,
    reopen: Option<Reopen>,
) -> Result<Option<Exposures>, Error> {
    let Some(flip) = options.flip_wanted() else {
        return Ok(None);
    };
    if header.layout.depth != Depth::Float {
        return Ok(None);
    }
    let scan = match (flip.exposure, flip.exposures, reopen) {
        (Some(_), Some(_), _) => None,
        (_, _, Some(reopen)) => Some(scan_luminance(reopen)?),
        (_, _, None) => {
            return Err(Error::input(
                "--flip",
                format!(
                    "{}: give --exposure START,STOP and --exposures N for HDR-FLIP on images \
                     read once",
                    name.display()
                ),
            ));
        }
    };
    rule::settle(
        flip.exposure,
        flip.exposures,
        scan.as_ref(),
        flip.tonemapper,
    )
    .map(Some)
    .map_err(|cause| Error::decode(name, cause))
}

/// Image 1's luminance, read as many times as the scan needs.
fn scan_luminance(reopen: Reopen) -> Result<LuminanceScan, Error> {
    let mut scan = LuminanceScan::new();
    let mut samples = Samples::zeroed(Depth::Float, 0);
    loop {
        let mut source = reopen()?;
        let header = source.header();
        let rows_per_read = (1u32 << 16).div_ceil(header.width).max(1);
        let mut y = 0;
        while y < header.height {
            let rows = rows_per_read.min(header.height - y);
            source.read_rows(rows, &mut samples)?;
            scan.add(&samples, header.layout);
            y += rows;
        }
        if !scan.needs_second_pass() {
            return Ok(scan);
        }
        scan.second_pass();
    }
}

/// FLIP's rule for images of `header`: refused when its filters would reach further than
/// `HALO_BYTES` allows.
fn flip_rule(
    options: &FlipOptions,
    header: Header,
    exposures: Option<Exposures>,
) -> Result<FlipRule, Error> {
    let ppd = FlipOptions::check_ppd(options.ppd).map_err(|e| Error::input("--ppd", e))?;
    let rule = FlipRule {
        ppd: ppd as f32,
        hdr: match header.layout.depth {
            Depth::Float => Some(exposures.ok_or_else(|| {
                Error::input("--flip", "floating-point images need their exposures")
            })?),
            _ => None,
        },
    };
    let reach = u64::from(rule.halo()) * 2;
    let bytes = reach * u64::from(header.width) * KERNEL_BYTES_PER_PIXEL;
    if bytes > HALO_BYTES {
        return Err(Error::input(
            "--ppd",
            format!(
                "at {ppd} pixels per degree FLIP's filters reach {} rows: for an image {} pixels \
                 wide they would hold {} MiB, over {} MiB; give a smaller --ppd",
                rule.halo(),
                header.width,
                bytes >> 20,
                HALO_BYTES >> 20
            ),
        ));
    }
    Ok(rule)
}

/// SSIM's rule and pool for images of `header` named `names`: refused for images smaller than
/// the window.
fn ssim_start(names: [&Path; 2], header: Header) -> Result<(SsimRule, SsimPool), Error> {
    let window = 2 * RADIUS + 1;
    if header.width < window || header.height < window {
        return Err(Error::decode(
            names[0],
            format!(
                "is {}x{} pixels: SSIM needs images of at least {window}x{window} (its window)",
                header.width, header.height
            ),
        ));
    }
    let range = match header.layout.depth {
        Depth::Float => 1.0,
        depth => f64::from(depth.max_value()),
    };
    let rule = SsimRule { range };
    let channels = rule.channels(header.layout);
    Ok((rule, SsimPool::new(header.width, header.height, channels)))
}

/// A pixel's place in the image: the first one in row order wins ties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct At {
    /// Column.
    pub x: u32,
    /// Row.
    pub y: u32,
}

/// The pixels of a band's counted rows that count: all but `left_out` (sorted indices).
fn counted(pixels: usize, left_out: &[usize]) -> impl Iterator<Item = usize> + '_ {
    let mut skip = left_out.iter().copied().peekable();
    (0..pixels).filter(move |&i| {
        while skip.peek().is_some_and(|&s| s < i) {
            skip.next();
        }
        skip.peek() != Some(&i)
    })
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn counted_pixels_skip_the_left_out() {
        let got: Vec<usize> = counted(6, &[0, 2, 3, 9]).collect();
        assert_eq!(got, [1, 4, 5]);
        assert_eq!(counted(3, &[]).count(), 3);
    }
}
