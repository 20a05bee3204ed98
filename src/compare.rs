//! A comparison from files to report: both images decode concurrently, band by band, on a
//! thread each; each pair of bands goes to the engine as soon as both images have it (diffed
//! on the CPU by whichever of the two threads is ahead, or handed to the GPU by a thread of its
//! own), and its diff rows to a writer thread. Decoding, diffing and encoding overlap, and only
//! a few bands are held at any moment.

use std::collections::VecDeque;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Instant;

use crate::decode::{self, Header, PixelLimits, RowSource};
use crate::engine::choice::{AutoOptions, Backend, Choice};
use crate::engine::cpu::CpuEngine;
use crate::engine::gpu::GpuOptions;
use crate::engine::{Band, Engine, Stats};
use crate::error::Error;
use crate::output::{Compression, DiffWriter};
use crate::pixel::{Samples, promote};
use crate::report::Report;
use crate::resize;

/// Called with (rows done, rows in all) after each band.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// How to compare.
#[derive(Clone)]
pub struct Options {
    /// Leave alpha out of the ratio and make the diff image opaque.
    pub ignore_alpha: bool,
    /// Resize the second image to the first one's size as Pillow does (decodes it whole).
    pub resize: bool,
    pub backend: Backend,
    /// Where to write the diff image, if anywhere.
    pub diff_image: Option<PathBuf>,
    pub compression: Compression,
    /// Images whose header claims more pixels than this are refused.
    pub max_pixels: PixelLimits,
    /// Pixels per band (rounded to whole rows, at least one row).
    pub band_pixels: u64,
    pub gpu: GpuOptions,
    pub auto: AutoOptions,
    pub progress: Option<Progress>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            ignore_alpha: false,
            resize: false,
            backend: Backend::Auto,
            diff_image: None,
            compression: Compression::Fast,
            max_pixels: PixelLimits::default(),
            band_pixels: 1 << 17,
            gpu: GpuOptions::default(),
            auto: AutoOptions::default(),
            progress: None,
        }
    }
}

/// Bands an image may be decoded ahead of the diff.
const BANDS_AHEAD: usize = 2;

/// Compares the images at `a` and `b`.
pub fn compare(a: &Path, b: &Path, options: &Options) -> Result<Report, Error> {
    let start = Instant::now();
    let sources = thread::scope(|s| {
        let opened_b = s.spawn(|| decode::open(b, options.max_pixels));
        let opened_a = decode::open(a, options.max_pixels);
        let panicked = || Err(Error::decode(b, "decoder panicked"));
        [opened_a, opened_b.join().unwrap_or_else(|_| panicked())]
    });
    compare_sources([a, b], sources, options, start)
}

/// Compares two encoded images held in memory; errors call them "image 1" and "image 2".
pub fn compare_bytes(a: &[u8], b: &[u8], options: &Options) -> Result<Report, Error> {
    let start = Instant::now();
    let names = [Path::new("image 1"), Path::new("image 2")];
    let open = |name, bytes: &[u8]| {
        decode::from_stream(name, Cursor::new(bytes.to_vec()), options.max_pixels)
    };
    let sources = [open(names[0], a), open(names[1], b)];
    compare_sources(names, sources, options, start)
}

/// Compares two images already opened as row sources (arrays, images converted on the way);
/// errors call them `names`.
pub fn compare_rows(
    names: [&Path; 2],
    sources: [Box<dyn RowSource>; 2],
    options: &Options,
) -> Result<Report, Error> {
    compare_sources(names, sources.map(Ok), options, Instant::now())
}

fn compare_sources(
    names: [&Path; 2],
    sources: [Result<Box<dyn RowSource>, Error>; 2],
    options: &Options,
    start: Instant,
) -> Result<Report, Error> {
    let [source_a, source_b] = sources;
    let (source_a, mut source_b) = (source_a?, source_b?);
    let (ha, hb) = (source_a.header(), source_b.header());
    if (ha.width, ha.height) != (hb.width, hb.height) {
        if !options.resize {
            return Err(Error::SizeMismatch {
                a: names[0].to_owned(),
                a_size: (ha.width, ha.height),
                b: names[1].to_owned(),
                b_size: (hb.width, hb.height),
            });
        }
        let size = (ha.width, ha.height);
        source_b = resize::resized(source_b, size.0, size.1, names[1], options.max_pixels)?;
    }
    let mut notes = Vec::new();
    let layout = ha.layout.common(hb.layout);
    if ha.layout != hb.layout {
        notes.push(format!(
            "note: {} is {}, {} is {}: comparing both as {layout}",
            names[0].display(),
            ha.layout,
            names[1].display(),
            hb.layout
        ));
    }
    let header = Header { layout, ..ha };
    let writer = match &options.diff_image {
        Some(path) => Some(DiffWriter::create(
            path,
            header,
            options.compression,
            names,
        )?),
        None => None,
    };
    // While both decoders keep the cores busy, splitting bands between more threads only adds
    // hand-overs: one thread diffs several times faster than either decodes.
    let cpu = CpuEngine {
        parallel: !(source_a.decodes_as_read() && source_b.decodes_as_read()),
    };
    let mut engine = Choice::new(
        options.backend,
        options.auto,
        &options.gpu,
        header.pixels(),
        cpu,
    )?;
    let sources = [source_a, source_b];
    let stats = run_bands(sources, names, header, options, &mut engine, writer)?;
    notes.extend(engine.notes().iter().cloned());
    Ok(Report {
        width: header.width,
        height: header.height,
        layout,
        ignore_alpha: options.ignore_alpha,
        stats,
        engine: engine.info(),
        gpu_bands: engine.gpu_bands(),
        cpu_bands: engine.cpu_bands(),
        elapsed: start.elapsed(),
        notes,
    })
}

/// Decodes both sources on two threads, one per image, which also take turns at diffing on
/// the CPU: a pair of bands is diffed, in order, by the thread that is ahead, or by either once
/// it has nothing left to decode or may not decode further ahead. An engine that waits on a
/// device is driven by a third thread instead, so both images go on decoding meanwhile. The
/// diff rows go to `writer`, which is finished only if every band succeeded.
fn run_bands(
    sources: [Box<dyn RowSource>; 2],
    names: [&Path; 2],
    header: Header,
    options: &Options,
    engine: &mut (dyn Engine + Send),
    writer: Option<DiffWriter>,
) -> Result<Stats, Error> {
    let rows_per_band =
        (options.band_pixels / u64::from(header.width)).clamp(1, u64::from(header.height)) as u32;
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
    let pipeline = Pipeline {
        header,
        rows_per_band,
        bands: header.height.div_ceil(rows_per_band),
        options,
        shared: Mutex::new(Shared {
            waiting: Default::default(),
            spare: Default::default(),
            decoded: [0; 2],
            diffed: 0,
            on_device: engine.waits_on_device(),
            engine: Some(engine),
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
                path: options.diff_image.clone().unwrap_or_default(),
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
    Ok(shared.stats)
}

/// What the threads of `run_bands` share.
struct Pipeline<'a, 'e> {
    header: Header,
    rows_per_band: u32,
    bands: u32,
    options: &'a Options,
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
    /// Diff buffers the writer is done with.
    spent_diffs: Option<Receiver<Samples>>,
    stats: Stats,
    /// The first error; every thread stops at it.
    error: Option<Error>,
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
                    let Role::Decoder(i, source, _) = &mut role else {
                        unreachable!("only decoders decode");
                    };
                    let i = *i;
                    let y = shared.decoded[i] * self.rows_per_band;
                    drop(shared);
                    let rows = self.rows_per_band.min(self.header.height - y);
                    let layout = source.header().layout;
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

    /// Diffs the next pair of bands, which `next_step` found ready.
    fn diff_next<'g>(
        &'g self,
        mut shared: MutexGuard<'g, Shared<'e>>,
        rows_out: Option<&SyncSender<Samples>>,
    ) -> MutexGuard<'g, Shared<'e>> {
        let engine = shared.engine.take().expect("next_step checked the engine");
        let y = shared.diffed * self.rows_per_band;
        let [a, b] = [0, 1].map(|k| shared.waiting[k].pop_front().expect("ready"));
        let depth = self.header.layout.depth;
        let output = rows_out.map(|rows| {
            let spent = shared.spent_diffs.as_ref().and_then(|r| r.try_recv().ok());
            (rows, spent.unwrap_or_else(|| Samples::zeroed(depth, 0)))
        });
        drop(shared);
        let band = Band {
            width: self.header.width,
            y,
            rows: self.rows_per_band.min(self.header.height - y),
            halo_above: 0,
            halo_below: 0,
            layout: self.header.layout,
            a,
            b,
        };
        let diffed = self.diff(engine, &band, output);
        let mut shared = self.lock();
        shared.on_device = engine.waits_on_device();
        shared.engine = Some(engine);
        shared.spare[0].push(band.a);
        shared.spare[1].push(band.b);
        match diffed {
            Ok(stats) => {
                shared.stats = shared.stats.merge(stats);
                shared.diffed += 1;
                if let Some(progress) = &self.options.progress {
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
        let ready = shared.engine.is_some() && shared.waiting.iter().all(|w| !w.is_empty());
        let &Role::Decoder(i, ..) = role else {
            return if ready && shared.on_device {
                Step::Diff
            } else {
                Step::Wait
            };
        };
        let may_decode = shared.decoded[i] < self.bands && shared.waiting[i].len() <= BANDS_AHEAD;
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

    /// Diffs `band`, sending its diff rows to the writer when there is one.
    fn diff(
        &self,
        engine: &mut (dyn Engine + Send),
        band: &Band,
        output: Option<(&SyncSender<Samples>, Samples)>,
    ) -> Result<Stats, Error> {
        let ignore_alpha = self.options.ignore_alpha;
        let Some((rows, mut diff)) = output else {
            return engine.diff_band(band, ignore_alpha, None);
        };
        let stats = engine.diff_band(band, ignore_alpha, Some(&mut diff))?;
        rows.send(diff).map_err(|_| Error::Output {
            path: self.options.diff_image.clone().unwrap_or_default(),
            cause: "the writer stopped".into(),
        })?;
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
                Some(name) => Error::decode(name, "decoder panicked"),
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
