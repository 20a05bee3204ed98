//! The perceptual figures of a comparison, gathered band by band from the planes an engine
//! fills: pixels left out are set back to unchanged, pixels only one image covers (on a union
//! canvas) to changed, and then changed and anti-aliased pixels are counted and boxed, and the
//! changed ones joined into regions across band borders.

use crate::engine::Bounds;
use crate::engine::perceptual::{ANTI_ALIASED, CHANGED, Planes, Rule, SAME};
use crate::regions::{RegionSummary, Regions};

/// How the perceptual count is asked for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PerceptualOptions {
    /// 0 to 1: the YIQ delta must exceed `35215 * threshold²`.
    pub threshold: f64,
    /// Anti-aliased pixels are counted apart, not as changed.
    pub aa: bool,
}

impl PerceptualOptions {
    /// Checks a threshold: from 0 to 1.
    pub fn check_threshold(threshold: f64) -> Result<f64, String> {
        if (0.0..=1.0).contains(&threshold) {
            Ok(threshold)
        } else {
            Err("must be from 0 to 1".into())
        }
    }
}

impl Default for PerceptualOptions {
    fn default() -> PerceptualOptions {
        PerceptualOptions {
            threshold: 0.1,
            aa: false,
        }
    }
}

/// The perceptual figures of a whole comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct PerceptualReport {
    /// The threshold asked for.
    pub threshold: f64,
    /// Whether anti-aliased pixels were counted apart.
    pub aa: bool,
    /// Pixels a person would see as changed.
    pub changed: u64,
    /// Changed pixels found to be anti-aliasing (counted only with `aa`).
    pub anti_aliased: u64,
    /// The bounds of the changed pixels.
    pub changed_bounds: Option<Bounds>,
    /// The changed pixels' connected regions.
    pub regions: RegionSummary,
}

/// The perceptual state of a comparison in progress.
pub(crate) struct Perception {
    pub(crate) options: PerceptualOptions,
    pub(crate) rule: Rule,
    /// The planes of the band being handled.
    pub(crate) planes: Planes,
    changed: u64,
    anti_aliased: u64,
    bounds: Option<Bounds>,
    pub(crate) labeller: Labeller,
    /// Pixels per row.
    width: u32,
}

/// The region labeller, a band behind the counts: a band's changed pixels are joined into
/// regions while an engine works on the next band (see `catch_up`).
pub(crate) struct Labeller {
    regions: Regions,
    /// The changed pixels of a band not labelled yet (nonzero = changed), or empty.
    mask: Vec<u8>,
    /// Rows without a changed pixel not labelled yet.
    unchanged: u32,
}

impl Labeller {
    /// Labels what is left to label.
    pub(crate) fn catch_up(&mut self) {
        if !self.mask.is_empty() {
            self.regions.add_rows(&self.mask);
            self.mask.clear();
        }
        if self.unchanged > 0 {
            self.regions.add_unchanged_rows(u64::from(self.unchanged));
            self.unchanged = 0;
        }
    }
}

impl Perception {
    pub(crate) fn new(options: PerceptualOptions, rule: Rule, width: u32) -> Perception {
        Perception {
            options,
            rule,
            planes: Planes::default(),
            changed: 0,
            anti_aliased: 0,
            bounds: None,
            width,
            labeller: Labeller {
                regions: Regions::new(width),
                mask: Vec::new(),
                unchanged: 0,
            },
        }
    }

    /// Counts the planes of the band whose first row is `y`, after setting the pixels in
    /// `ignored` back to unchanged and those in `missing` to changed (indices within the band).
    pub(crate) fn add(&mut self, y: u32, width: u32, ignored: &[usize], missing: &[usize]) {
        for &i in ignored {
            self.planes.class[i] = SAME;
        }
        for &i in missing {
            self.planes.class[i] = CHANGED;
        }
        if self.options.aa {
            self.anti_aliased += self.count(ANTI_ALIASED);
        }
        self.labeller.catch_up();
        if !self.planes.class.contains(&CHANGED) {
            // Nothing changed in the band: the usual case where images are mostly alike.
            if width > 0 {
                self.labeller.unchanged = (self.planes.class.len() / width as usize) as u32;
            }
            return;
        }
        let mask = &mut self.labeller.mask;
        mask.extend(self.planes.class.iter().map(|&c| u8::from(c == CHANGED)));
        let width = width as usize;
        for (r, row) in mask.chunks_exact(width).enumerate() {
            let Some(x0) = row.iter().position(|&c| c != 0) else {
                continue;
            };
            let x1 = row.iter().rposition(|&c| c != 0).unwrap_or(x0);
            self.changed += row.iter().map(|&c| u64::from(c)).sum::<u64>();
            let row_bounds = Bounds {
                x0: x0 as u32,
                y0: y + r as u32,
                x1: x1 as u32,
                y1: y + r as u32,
            };
            self.bounds = Some(self.bounds.map_or(row_bounds, |b| b.union(row_bounds)));
        }
    }

    /// Counts `rows` rows from `y` without planes, each changed in its first `covered` columns
    /// but those in `left_out` (in order), and unchanged past them: the rows of a union canvas
    /// that only one image covers.
    pub(crate) fn add_rows_alike(&mut self, y: u32, rows: u32, covered: u32, left_out: &[usize]) {
        self.labeller.catch_up();
        let mut row = vec![0u8; self.width as usize];
        row[..covered as usize].fill(1);
        for &x in left_out {
            row[x] = 0;
        }
        let regions = &mut self.labeller.regions;
        regions.add_rows(&row);
        regions.repeat_last_row(u64::from(rows) - 1);
        let Some(x0) = row.iter().position(|&c| c != 0) else {
            return;
        };
        let x1 = row.iter().rposition(|&c| c != 0).unwrap_or(x0);
        self.changed += (covered as usize - left_out.len()) as u64 * u64::from(rows);
        let bounds = Bounds {
            x0: x0 as u32,
            y0: y,
            x1: x1 as u32,
            y1: y + rows - 1,
        };
        self.bounds = Some(self.bounds.map_or(bounds, |b| b.union(bounds)));
    }

    /// Counts a band of `rows` rows whose pixels are all equal and counted, without reading
    /// its planes.
    pub(crate) fn add_unchanged(&mut self, rows: u32) {
        self.labeller.catch_up();
        self.labeller.unchanged = rows;
    }

    /// Pixels of the band's planes in `class`.
    fn count(&self, class: u8) -> u64 {
        self.planes.class.iter().filter(|&&c| c == class).count() as u64
    }

    pub(crate) fn finish(mut self) -> PerceptualReport {
        self.labeller.catch_up();
        PerceptualReport {
            threshold: self.options.threshold,
            aa: self.options.aa,
            changed: self.changed,
            anti_aliased: self.anti_aliased,
            changed_bounds: self.bounds,
            regions: self.labeller.regions.finish(),
        }
    }
}
