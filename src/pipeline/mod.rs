//! The band pipeline: both images decode concurrently, band by band, on a thread each; each
//! pair of bands goes to the engine as soon as both images have it (diffed on the CPU by
//! whichever of the two threads is ahead, or handed to the GPU by a thread of its own), and its
//! diff rows to a writer thread. Decoding, diffing and encoding overlap, and only a few bands
//! are held at any moment. With the perceptual count or the render metrics (FLIP, SSIM), each
//! band also goes through those kernels first, with the rows of its neighbours that they read
//! (two for the anti-aliasing test, the filters' reach for the metrics), which waits for the
//! rows below it to be decoded.

mod halo;
mod union;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;

use crate::decode::{Header, RowSource};
use crate::engine::{Band, Engine, Stats};
use crate::error::Error;
use crate::hooks::{self, Hook};
use crate::ignore::Ignored;
use crate::metrics::Metrics;
use crate::options::Progress;
use crate::output::DiffWriter;
use crate::perception::Perception;
use crate::pixel::{Samples, promote};
use crate::style::{self, Style};

/// Bands an image may be decoded ahead of the diff.
const BANDS_AHEAD: usize = 6;
/// Rows of context the anti-aliasing test reads on each side of a band.
pub(crate) const HALO: u32 = 2;
/// With the render metrics, bands hold at least this many times the rows their filters reach
/// beyond a band, which the kernels read (and filter) again for each band and each thread...
const METRIC_BAND_HALOS: u64 = 4;
/// ... and up to this many times, to make bands of about `METRIC_BAND_PIXELS`: fewer rows
/// filtered twice, and more rows for each thread's task.
const METRIC_BAND_HALOS_MAX: u64 = 32;
const METRIC_BAND_PIXELS: u64 = 1 << 20;

/// How a comparison's bands are cut and reported.
pub(crate) struct Plan<'a> {
    /// Pixels per band (rounded to whole rows, at least one row).
    pub band_pixels: u64,
    /// Called with (rows done, rows in all) after each band.
    pub progress: Option<Progress>,
    /// Alpha is left out of the ratio.
    pub ignore_alpha: bool,
    /// Where the diff image goes, named in the writer's errors.
    pub diff_image: Option<&'a Path>,
    /// A render metric's style is drawn as the values themselves (into a floating-point
    /// format), not as colours.
    pub map_floats: bool,
}

/// What a comparison's bands go through besides the ratio kernel.
pub(crate) struct Extras<'a> {
    pub perception: Option<Perception>,
    pub metrics: Option<Metrics>,
    pub ignored: &'a Ignored,
    /// On a union canvas, the part each image covers: (width, height) of 1 and 2.
    pub covered: Option<[(u32, u32); 2]>,
    pub style: Style,
}

/// What `run_bands` found besides the ratio's figures.
pub(crate) struct Found {
    pub stats: Stats,
    pub perception: Option<Perception>,
    pub metrics: Option<Metrics>,
    pub ignored: u64,
}

/// Decodes both sources on two threads, one per image, which also take turns at diffing on
/// the CPU: a pair of bands is diffed, in order, by the thread that is ahead, or by either once
/// it has nothing left to decode or may not decode further ahead. An engine that waits on a
/// device is driven by a third thread instead, so both images go on decoding meanwhile. The
/// diff rows go to `writer`, which is finished only if every band succeeded.
pub(crate) fn run_bands(
    sources: [Box<dyn RowSource>; 2],
    names: [&Path; 2],
    header: Header,
    plan: Plan,
    engine: &mut (dyn Engine + Send),
    writer: Option<DiffWriter>,
    extras: Extras,
) -> Result<Found, Error> {
    let metrics_halo = extras.metrics.as_ref().map_or(0, Metrics::halo);
    let band_pixels = plan
        .band_pixels
        .max(engine.band_bytes() / header.layout.bytes_per_pixel() as u64);
    let rows_per_band = (band_pixels / u64::from(header.width))
        .max((METRIC_BAND_PIXELS / u64::from(header.width)).clamp(
            METRIC_BAND_HALOS * u64::from(metrics_halo),
            METRIC_BAND_HALOS_MAX * u64::from(metrics_halo),
        ))
        .clamp(1, u64::from(header.height)) as u32;
    let (rows_out, spent_diffs, writing) = match writer {
        Some(writer) => {
            let (rows_tx, rows_rx) = sync_channel(BANDS_AHEAD);
            let (spent_tx, spent_rx) = channel();
            (
                Some(rows_tx),
                Some(spent_rx),
                Some((writer, rows_rx, spent_tx)),
            )
        }
        None => (None, None, None),
    };
    let halo = match &extras.perception {
        Some(p) if p.options.aa => HALO,
        _ => 0,
    }
    .max(metrics_halo);
    let pipeline = Pipeline {
        header,
        rows_per_band,
        bands: header.height.div_ceil(rows_per_band),
        halo,
        plan,
        ignored: extras.ignored,
        covered: extras.covered,
        style: extras.style,
        shared: Mutex::new(Shared {
            waiting: Default::default(),
            spare: Default::default(),
            decoded: [0; 2],
            diffed: 0,
            on_device: engine.waits_on_device(),
            engine: Some(engine),
            work: Some(Work {
                perception: extras.perception,
                metrics: extras.metrics,
                above: [0, 1].map(|_| Samples::zeroed(header.layout.depth, 0)),
                ignored: 0,
                pixels: Vec::new(),
                missing: Vec::new(),
                uncovered: Vec::new(),
                below: [0, 1].map(|_| Samples::zeroed(header.layout.depth, 0)),
                held: [0, 1].map(|_| Samples::zeroed(header.layout.depth, 0)),
            }),
            spent_diffs,
            stats: Stats::default(),
            error: None,
        }),
        decoders: Condvar::new(),
        differ: Condvar::new(),
    };
    let written = thread::scope(|s| {
        let writing =
            writing.map(|(writer, rows, spent)| s.spawn(move || write_bands(writer, rows, spent)));
        let roles = sources
            .into_iter()
            .zip(names)
            .enumerate()
            .map(|(i, (source, name))| Role::Decoder(i, source, name))
            .chain([Role::Differ]);
        let workers: Vec<_> = roles
            .map(|role| {
                let (pipeline, rows_out) = (&pipeline, rows_out.clone());
                s.spawn(move || pipeline.work(role, rows_out))
            })
            .collect();
        // A panic has been turned into the error of its image.
        for worker in workers {
            let _ = worker.join();
        }
        drop(rows_out);
        writing.map(|writing| writing.join())
    });
    // The writer's own error comes first: a failed send only means that it stopped.
    let writer = match written {
        Some(Err(_)) => {
            return Err(Error::Output {
                path: pipeline.plan.diff_image.unwrap_or(Path::new("")).to_owned(),
                cause: "the writer stopped unexpectedly".into(),
            });
        }
        Some(Ok(written)) => Some(written?),
        None => None,
    };
    let shared = pipeline
        .shared
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(error) = shared.error {
        return Err(error);
    }
    if let Some(writer) = writer {
        writer.finish()?;
    }
    let work = shared
        .work
        .unwrap_or_else(|| unreachable!("returned after each band"));
    Ok(Found {
        stats: shared.stats,
        perception: work.perception,
        metrics: work.metrics,
        ignored: work.ignored,
    })
}

/// What the threads of `run_bands` share.
struct Pipeline<'a, 'e> {
    header: Header,
    rows_per_band: u32,
    bands: u32,
    /// Rows of context each band needs on each side.
    halo: u32,
    plan: Plan<'a>,
    ignored: &'a Ignored,
    covered: Option<[(u32, u32); 2]>,
    style: Style,
    shared: Mutex<Shared<'e>>,
    /// Signalled whenever `shared` changes.
    decoders: Condvar,
    /// Signalled when the differ thread may have work, or should stop.
    differ: Condvar,
}

/// What a thread of `run_bands` does: decode image `i` (and diff on the CPU), or drive an
/// engine that waits on a device.
enum Role<'n> {
    Decoder(usize, Box<dyn RowSource>, &'n Path),
    Differ,
}

/// The state of a comparison in progress.
struct Shared<'e> {
    /// Per image: its decoded bands not yet diffed, in order from band `diffed`.
    waiting: [VecDeque<Samples>; 2],
    /// Per image: buffers to decode into.
    spare: [Vec<Samples>; 2],
    /// Per image: bands decoded.
    decoded: [u32; 2],
    /// Bands diffed.
    diffed: u32,
    /// The engine waits on a device, so the differ thread drives it.
    on_device: bool,
    /// The engine, while no thread is diffing.
    engine: Option<&'e mut (dyn Engine + Send)>,
    /// What the diffing thread works with besides the engine, taken with it.
    work: Option<Work>,
    /// Diff buffers the writer is done with.
    spent_diffs: Option<Receiver<Samples>>,
    stats: Stats,
    /// The first error; every thread stops at it.
    error: Option<Error>,
}

/// The diffing thread's own state, carried from band to band.
struct Work {
    perception: Option<Perception>,
    metrics: Option<Metrics>,
    /// Per image, the last rows of the bands diffed so far (up to `halo`), as decoded.
    above: [Samples; 2],
    /// Pixels left out so far.
    ignored: u64,
    /// Scratch: the band's pixels left out.
    pixels: Vec<usize>,
    /// Scratch: the band's pixels that only one image covers.
    missing: Vec<usize>,
    /// Scratch: the band's pixels that neither image covers.
    uncovered: Vec<usize>,
    /// Per image, the rows (up to `halo`) after the band being diffed.
    below: [Samples; 2],
    /// Scratch: per image, the band with the rows around it.
    held: [Samples; 2],
}

/// What a thread does next.
enum Step {
    Decode(Samples),
    Diff,
    Wait,
    Stop,
}

impl<'e> Pipeline<'_, 'e> {
    /// The loop of one thread: decode an image's bands, and diff pairs when its turn.
    fn work(&self, mut role: Role, rows_out: Option<SyncSender<Samples>>) {
        let _stop = StopOnPanic {
            pipeline: self,
            name: match &role {
                Role::Decoder(_, _, name) => Some(name),
                Role::Differ => None,
            },
        };
        let mut scratch = Samples::zeroed(self.header.layout.depth, 0);
        let mut shared = self.lock();
        loop {
            match self.next_step(&mut shared, &role) {
                Step::Stop => return,
                Step::Wait => {
                    let condvar = match role {
                        Role::Decoder(..) => &self.decoders,
                        Role::Differ => &self.differ,
                    };
                    shared = condvar.wait(shared).unwrap_or_else(|e| e.into_inner());
                }
                Step::Diff => shared = self.diff_next(shared, rows_out.as_ref()),
                Step::Decode(mut samples) => {
                    let Role::Decoder(i, source, name) = &mut role else {
                        unreachable!("only decoders decode");
                    };
                    let i = *i;
                    let y = shared.decoded[i] * self.rows_per_band;
                    drop(shared);
                    let rows = self.rows_per_band.min(self.header.height - y);
                    let layout = source.header().layout;
                    hooks::fire(Hook::Rows(name));
                    let read = source.read_rows(rows, &mut samples).map(|()| {
                        if layout != self.header.layout {
                            promote(&samples, layout, self.header.layout, &mut scratch);
                            std::mem::swap(&mut samples, &mut scratch);
                        }
                        samples
                    });
                    shared = self.lock();
                    match read {
                        Ok(samples) => {
                            shared.waiting[i].push_back(samples);
                            shared.decoded[i] += 1;
                        }
                        Err(error) => {
                            shared.error.get_or_insert(error);
                        }
                    }
                    self.notify(&shared);
                }
            }
        }
    }

    /// Rows of band `k`.
    fn band_rows(&self, k: u32) -> u32 {
        self.rows_per_band
            .min(self.header.height.saturating_sub(k * self.rows_per_band))
    }

    /// Whether the next band can be diffed: both images have it, and the halo rows below it
    /// that the perceptual kernel reads.
    fn ready(&self, shared: &Shared) -> bool {
        if shared.engine.is_none() || shared.waiting.iter().any(VecDeque::is_empty) {
            return false;
        }
        let next = shared.diffed;
        let below_needed = self
            .halo
            .min(self.header.height - (next * self.rows_per_band + self.band_rows(next)));
        shared.waiting.iter().all(|w| {
            let below: u32 = (1..w.len() as u32).map(|j| self.band_rows(next + j)).sum();
            below >= below_needed
        })
    }

    /// Diffs the next pair of bands, which `next_step` found ready.
    fn diff_next<'g>(
        &'g self,
        mut shared: MutexGuard<'g, Shared<'e>>,
        rows_out: Option<&SyncSender<Samples>>,
    ) -> MutexGuard<'g, Shared<'e>> {
        let engine = shared.engine.take().expect("next_step checked the engine");
        let mut work = shared.work.take().expect("taken with the engine");
        let y = shared.diffed * self.rows_per_band;
        let [a, b] = [0, 1].map(|k| shared.waiting[k].pop_front().expect("ready"));
        let depth = self.header.layout.depth;
        let output = rows_out.map(|rows| {
            let spent = shared.spent_diffs.as_ref().and_then(|r| r.try_recv().ok());
            (rows, spent.unwrap_or_else(|| Samples::zeroed(depth, 0)))
        });
        let mut band = Band {
            width: self.header.width,
            y,
            rows: self.band_rows(shared.diffed),
            halo_above: 0,
            halo_below: 0,
            layout: self.header.layout,
            a,
            b,
        };
        if self.halo > 0 {
            self.gather_below(&shared, &mut work, &band);
        }
        drop(shared);
        let diffed = self.diff(engine, &mut work, &mut band, output);
        let mut shared = self.lock();
        shared.on_device = engine.waits_on_device();
        shared.engine = Some(engine);
        shared.work = Some(work);
        shared.spare[0].push(band.a);
        shared.spare[1].push(band.b);
        match diffed {
            Ok(stats) => {
                shared.stats = shared.stats.merge(stats);
                shared.diffed += 1;
                if let Some(progress) = &self.plan.progress {
                    let rows = (y + band.rows, self.header.height);
                    progress(u64::from(rows.0), u64::from(rows.1));
                }
            }
            Err(error) => {
                shared.error.get_or_insert(error);
            }
        }
        self.notify(&shared);
        shared
    }

    /// Wakes the threads that `shared`, just changed, may have given something to do.
    fn notify(&self, shared: &Shared) {
        self.decoders.notify_all();
        if shared.on_device || self.stopping(shared) {
            self.differ.notify_one();
        }
    }

    fn stopping(&self, shared: &Shared) -> bool {
        shared.error.is_some() || shared.diffed == self.bands
    }

    /// What a thread in `role` does next.
    fn next_step(&self, shared: &mut Shared, role: &Role) -> Step {
        if self.stopping(shared) {
            return Step::Stop;
        }
        let ready = self.ready(shared);
        let &Role::Decoder(i, ..) = role else {
            return if ready && shared.on_device {
                Step::Diff
            } else {
                Step::Wait
            };
        };
        // Enough bands are decoded ahead to hold the rows the kernels read below a band.
        let limit = BANDS_AHEAD.max(self.halo.div_ceil(self.rows_per_band) as usize + 1);
        let may_decode = shared.decoded[i] < self.bands && shared.waiting[i].len() <= limit;
        let ahead = shared.decoded[i] >= shared.decoded[1 - i];
        if ready && !shared.on_device && (ahead || !may_decode) {
            return Step::Diff;
        }
        if may_decode {
            let depth = self.header.layout.depth;
            let samples = shared.spare[i]
                .pop()
                .unwrap_or_else(|| Samples::zeroed(depth, 0));
            return Step::Decode(samples);
        }
        Step::Wait
    }

    /// Diffs `band`: the perceptual kernel on the pixels as decoded, and the ratio kernel with
    /// the pixels left out or uncovered (and those one image covers) made equal, and sends the diff rows to
    /// the writer. Where no pixel is left out, the ratio kernel runs first, and when it finds
    /// the rows equal on every channel the perceptual rule reads, the perceptual kernel has
    /// nothing to do.
    fn diff(
        &self,
        engine: &mut (dyn Engine + Send),
        work: &mut Work,
        band: &mut Band,
        output: Option<(&SyncSender<Samples>, Samples)>,
    ) -> Result<Stats, Error> {
        let width = band.width;
        self.ignored.in_rows(band.y, band.rows, &mut work.pixels);
        self.coverage(band.y, band.rows, &mut work.missing, &mut work.uncovered);
        // A pixel left out is left out, whichever image covers it; one that neither covers
        // counts as uncovered, not as left out, and is then handled as left out.
        let (ignored, uncovered) = (&mut work.pixels, &work.uncovered);
        work.missing.retain(|i| ignored.binary_search(i).is_err());
        let covered = ignored
            .iter()
            .filter(|i| uncovered.binary_search(i).is_err());
        work.ignored += covered.count() as u64;
        if !uncovered.is_empty() {
            ignored.extend_from_slice(uncovered);
            ignored.sort_unstable();
            ignored.dedup();
        }
        let (ignore_alpha, channels) = (self.plan.ignore_alpha, band.layout.channels as usize);
        let (rows, mut diff) = match output {
            Some((rows, diff)) => (Some(rows), Some(diff)),
            None => (None, None),
        };
        let raw = self.style == Style::Raw;
        let first = work.pixels.is_empty()
            && work.missing.is_empty()
            && !(ignore_alpha && band.layout.has_alpha());
        let ratio_first = match first {
            true => Some(engine.diff_band(band, ignore_alpha, diff.as_mut().filter(|_| raw))?),
            false => None,
        };
        let equal = self.perceive(engine, work, band, ratio_first.map(|s| s.differing == 0))?;
        if let Some(perception) = &mut work.perception {
            if equal && work.missing.is_empty() {
                perception.add_unchanged(band.rows);
            } else {
                perception.add(band.y, width, &work.pixels, &work.missing);
            }
        }
        let mut stats = match ratio_first {
            Some(stats) => stats,
            None => {
                // The ratio kernel sees pixels left out, and those only one image covers, as
                // equal; the latter get their figures below.
                for pixels in [&work.pixels, &work.missing] {
                    band.b.copy_pixels(&band.a, channels, pixels);
                }
                engine.diff_band(band, ignore_alpha, diff.as_mut().filter(|_| raw))?
            }
        };
        if !work.missing.is_empty() {
            stats = stats.merge(self.missing_stats(band, &work.missing));
            if let (Some(diff), Style::Raw) = (diff.as_mut(), self.style) {
                diff.fill_max(channels, &work.missing);
            }
        }
        if let (Some(diff), Some(metrics)) = (diff.as_mut(), &work.metrics) {
            let floats = self.plan.map_floats;
            match (self.style, &metrics.flip, &metrics.ssim) {
                (Style::Flip, Some(_), _) => style::draw_flip(&metrics.flip_values, floats, diff),
                (Style::Ssim, _, Some((_, pool))) => {
                    style::draw_ssim(&metrics.ssim_values, band.y, pool, floats, diff);
                }
                _ => {}
            }
        }
        if let (Some(diff), Some(perception)) = (diff.as_mut(), &work.perception)
            && self.style.draws_planes()
        {
            let frame = style::Frame {
                style: self.style,
                layout: band.layout,
                width,
                y: band.y,
            };
            frame.draw(&band.a, &perception.planes, &work.pixels, diff);
        }
        if let (Some(rows), Some(diff)) = (rows, diff) {
            rows.send(diff).map_err(|_| Error::Output {
                path: self.plan.diff_image.unwrap_or(Path::new("")).to_owned(),
                cause: "the writer stopped".into(),
            })?;
        }
        Ok(stats)
    }

    fn lock(&self) -> MutexGuard<'_, Shared<'e>> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Stops the other threads when this one panics, blaming the image it decodes, if any.
struct StopOnPanic<'p, 'a, 'e> {
    pipeline: &'p Pipeline<'a, 'e>,
    name: Option<&'p Path>,
}

impl Drop for StopOnPanic<'_, '_, '_> {
    fn drop(&mut self) {
        if thread::panicking() {
            let mut shared = self.pipeline.lock();
            shared.error.get_or_insert_with(|| match self.name {
                Some(name) => Error::crashed(name),
                None => Error::Gpu("the GPU engine panicked".into()),
            });
            self.pipeline.notify(&shared);
        }
    }
}

/// Writes the diff bands from `bands` in order, handing their buffers back on `spare`.
fn write_bands(
    mut writer: DiffWriter,
    bands: Receiver<Samples>,
    spare: std::sync::mpsc::Sender<Samples>,
) -> Result<DiffWriter, Error> {
    for rows in bands {
        writer.write_rows(&rows)?;
        let _ = spare.send(rows);
    }
    Ok(writer)
}
