//! A comparison from files to report: both images decode concurrently, band by band; each band
//! goes to an engine as soon as both images have it, and its diff rows to the writer, so
//! decoding, diffing and encoding overlap and only a few bands are held at any moment.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread;
use std::time::Instant;

use image::imageops::FilterType;

use crate::decode::{self, Header, PixelLimits, RowSource, WholeRows};
use crate::engine::cpu::CpuEngine;
use crate::engine::gpu::{self, GpuEngine, GpuOptions};
use crate::engine::{Band, Engine, EngineInfo, Stats};
use crate::error::Error;
use crate::output::{self, Compression, DiffWriter};
use crate::pixel::{Layout, Samples, promote};
use crate::report::Report;

/// Which engine diffs the bands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// The GPU when a hardware adapter exists and the image is large enough to repay starting
    /// it; the CPU otherwise. Falls back to the CPU if the GPU fails.
    #[default]
    Auto,
    Cpu,
    /// Any adapter, software ones included; its failure is an error.
    Gpu,
}

/// Called with (rows done, rows in all) after each band.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// How to compare.
#[derive(Clone)]
pub struct Options {
    /// Leave alpha out of the ratio and make the diff image opaque.
    pub ignore_alpha: bool,
    /// Resize the second image to the first one's size (decodes both whole).
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

/// How `Backend::Auto` chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoOptions {
    /// Images with fewer pixels stay on the CPU without looking for a GPU.
    pub min_pixels: u64,
    /// Take any adapter, software ones included, opened before the first band rather than
    /// looked for in the background. The CPU engine is faster than a software adapter, so this
    /// is for seeing the GPU path and its fallback on machines that only have one.
    pub any_adapter: bool,
}

impl Default for AutoOptions {
    fn default() -> AutoOptions {
        AutoOptions {
            min_pixels: AUTO_GPU_MIN_PIXELS,
            any_adapter: false,
        }
    }
}

/// Below this many pixels `Backend::Auto` keeps to the CPU without looking for a GPU: the CPU
/// engine diffs them in under 20 ms, less than finding an adapter and making a device takes
/// (60-120 ms measured on a software adapter).
pub const AUTO_GPU_MIN_PIXELS: u64 = 1 << 24;

impl Default for Options {
    fn default() -> Options {
        Options {
            ignore_alpha: false,
            resize: false,
            backend: Backend::Auto,
            diff_image: None,
            compression: Compression::Fast,
            max_pixels: PixelLimits::default(),
            band_pixels: 1 << 19,
            gpu: GpuOptions::default(),
            auto: AutoOptions::default(),
            progress: None,
        }
    }
}

/// Bands decoded ahead of the engine, per image.
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
        for (name, h) in names.iter().zip([ha, hb]) {
            PixelLimits::check(name, h.width, h.height, options.max_pixels.whole)?;
        }
        source_b = resized(source_b, ha.width, ha.height, names[1])?;
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
    let mut engines = Engines::new(options, header.pixels())?;
    let stats = run_bands([source_a, source_b], header, options, &mut engines, writer)?;
    notes.append(&mut engines.notes);
    Ok(Report {
        width: header.width,
        height: header.height,
        layout,
        ignore_alpha: options.ignore_alpha,
        stats,
        engine: engines.info(),
        gpu_bands: engines.gpu_bands,
        cpu_bands: engines.cpu_bands,
        elapsed: start.elapsed(),
        notes,
    })
}

/// Reads `source` whole and resizes it (bicubic) to `width` x `height`.
fn resized(
    mut source: Box<dyn RowSource>,
    width: u32,
    height: u32,
    name: &Path,
) -> Result<Box<dyn RowSource>, Error> {
    let header = source.header();
    let mut samples = Samples::zeroed(header.layout.depth, 0);
    source.read_rows(header.height, &mut samples)?;
    let image = output::to_image(header, samples)
        .ok_or_else(|| Error::decode(name, "decoded size does not match the header"))?;
    let image = image.resize_exact(width, height, FilterType::CatmullRom);
    Ok(Box::new(WholeRows::from_image(image)))
}

/// Decodes both sources on their own threads and feeds their bands to the engines, and the
/// diff rows to `writer`, which is finished only if every band succeeded.
fn run_bands(
    sources: [Box<dyn RowSource>; 2],
    header: Header,
    options: &Options,
    engines: &mut Engines,
    writer: Option<DiffWriter>,
) -> Result<Stats, Error> {
    let rows_per_band =
        (options.band_pixels / u64::from(header.width)).clamp(1, u64::from(header.height)) as u32;
    let (stats, writer) = thread::scope(|s| -> Result<_, Error> {
        let inputs = sources.map(|source| {
            let layout = source.header().layout;
            let (bands_tx, bands_rx) = sync_channel(BANDS_AHEAD);
            let (spare_tx, spare_rx) = channel();
            s.spawn(move || decode_bands(source, rows_per_band, bands_tx, spare_rx));
            Input {
                layout,
                bands: bands_rx,
                spare: spare_tx,
            }
        });
        let output = writer.map(|writer| {
            let (diff_tx, diff_rx) = sync_channel(BANDS_AHEAD);
            let (spare_tx, spare_rx) = channel();
            let writing = s.spawn(move || write_bands(writer, diff_rx, spare_tx));
            (diff_tx, spare_rx, writing)
        });
        let mut stats = Stats::default();
        let mut scratch = Samples::zeroed(header.layout.depth, 0);
        let mut y = 0;
        while y < header.height {
            let rows = rows_per_band.min(header.height - y);
            let [a, b] = [0, 1].map(|i| inputs[i].receive(header.layout, &mut scratch));
            let band = Band {
                width: header.width,
                y,
                rows,
                halo_above: 0,
                halo_below: 0,
                layout: header.layout,
                a: a?,
                b: b?,
            };
            let mut diff = output.as_ref().map(|(_, spare, _)| {
                spare
                    .try_recv()
                    .unwrap_or_else(|_| Samples::zeroed(header.layout.depth, 0))
            });
            stats = stats.merge(engines.diff_band(&band, options.ignore_alpha, diff.as_mut())?);
            if let (Some((diff_tx, ..)), Some(diff)) = (&output, diff)
                && diff_tx.send(diff).is_err()
            {
                break; // The writer stopped on an error, collected below.
            }
            // A decoder that has stopped needs no spare buffers.
            let _ = inputs[0].spare.send(band.a);
            let _ = inputs[1].spare.send(band.b);
            y += rows;
            if let Some(progress) = &options.progress {
                progress(u64::from(y), u64::from(header.height));
            }
        }
        let writer = match output {
            Some((diff_tx, _, writing)) => {
                drop(diff_tx);
                let written = writing.join().map_err(|_| Error::Output {
                    path: options.diff_image.clone().unwrap_or_default(),
                    cause: "the writer stopped unexpectedly".into(),
                })?;
                Some(written?)
            }
            None => None,
        };
        Ok((stats, writer))
    })?;
    if let Some(writer) = writer {
        writer.finish()?;
    }
    Ok(stats)
}

/// One image's bands as they arrive from its decoder, and the way back for spent buffers.
struct Input {
    layout: Layout,
    bands: Receiver<Result<Samples, Error>>,
    spare: std::sync::mpsc::Sender<Samples>,
}

impl Input {
    /// The next band, promoted to `layout` when the image has another one.
    fn receive(&self, layout: Layout, scratch: &mut Samples) -> Result<Samples, Error> {
        let mut samples = self.bands.recv().map_err(|_| Error::Decode {
            path: PathBuf::new(),
            cause: "the decoder stopped unexpectedly".into(),
        })??;
        if self.layout != layout {
            promote(&samples, self.layout, layout, scratch);
            std::mem::swap(&mut samples, scratch);
        }
        Ok(samples)
    }
}

/// Reads `source` band by band into `bands`, reusing the buffers that come back on `spare`.
/// Stops after the first error, or when nobody listens any more.
fn decode_bands(
    mut source: Box<dyn RowSource>,
    rows_per_band: u32,
    bands: SyncSender<Result<Samples, Error>>,
    spare: Receiver<Samples>,
) {
    let height = source.header().height;
    let mut y = 0;
    while y < height {
        let rows = rows_per_band.min(height - y);
        let mut samples = spare.try_recv().unwrap_or_else(|_| Samples::U8(Vec::new()));
        let read = source.read_rows(rows, &mut samples).map(|()| samples);
        let failed = read.is_err();
        if bands.send(read).is_err() || failed {
            return;
        }
        y += rows;
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

/// The engines of one comparison, and which of them diffs the next band.
struct Engines {
    cpu: CpuEngine,
    gpu: Option<GpuEngine>,
    /// `Backend::Auto` looking for an adapter in the background.
    probe: Option<thread::JoinHandle<Result<gpu::AdapterSummary, Error>>>,
    /// `Backend::Gpu`: a GPU failure is an error, not a reason to fall back.
    strict: bool,
    gpu_options: GpuOptions,
    gpu_info: Option<EngineInfo>,
    gpu_bands: u64,
    cpu_bands: u64,
    notes: Vec<String>,
}

impl Engines {
    fn new(options: &Options, pixels: u64) -> Result<Engines, Error> {
        let mut engines = Engines {
            cpu: CpuEngine,
            gpu: None,
            probe: None,
            strict: options.backend == Backend::Gpu,
            gpu_options: options.gpu.clone(),
            gpu_info: None,
            gpu_bands: 0,
            cpu_bands: 0,
            notes: Vec::new(),
        };
        match options.backend {
            Backend::Cpu => {}
            Backend::Gpu => engines.start_gpu()?,
            Backend::Auto if pixels < options.auto.min_pixels => {}
            Backend::Auto if options.auto.any_adapter => {
                if let Err(e) = engines.start_gpu() {
                    engines.notes.push(format!("warning: {e}; using the CPU"));
                }
            }
            Backend::Auto if gpu::hardware_possible() => {
                engines.probe = Some(thread::spawn(gpu::probe));
            }
            Backend::Auto => {}
        }
        Ok(engines)
    }

    fn start_gpu(&mut self) -> Result<(), Error> {
        let engine = GpuEngine::new(self.gpu_options.clone())?;
        self.gpu_info = Some(engine.info());
        self.gpu = Some(engine);
        Ok(())
    }

    /// Takes the background probe's answer once it is there: a hardware adapter starts the GPU
    /// engine for the bands still to come.
    fn poll_probe(&mut self) {
        if !self.probe.as_ref().is_some_and(|p| p.is_finished()) {
            return;
        }
        let Some(probe) = self.probe.take() else {
            return;
        };
        if let Ok(Ok(adapter)) = probe.join()
            && !adapter.software
            && let Err(e) = self.start_gpu()
        {
            self.notes.push(format!("warning: {e}; using the CPU"));
        }
    }

    fn diff_band(
        &mut self,
        band: &Band,
        ignore_alpha: bool,
        mut diff: Option<&mut Samples>,
    ) -> Result<Stats, Error> {
        self.poll_probe();
        if let Some(gpu) = &mut self.gpu {
            match gpu.diff_band(band, ignore_alpha, diff.as_deref_mut()) {
                Ok(stats) => {
                    self.gpu_bands += 1;
                    return Ok(stats);
                }
                Err(e) if self.strict => return Err(e),
                Err(e) => {
                    self.notes
                        .push(format!("warning: {e}; continuing on the CPU"));
                    self.gpu = None;
                }
            }
        }
        self.cpu_bands += 1;
        self.cpu.diff_band(band, ignore_alpha, diff)
    }

    fn info(&self) -> EngineInfo {
        match &self.gpu_info {
            Some(info) if self.gpu_bands > 0 => info.clone(),
            _ => EngineInfo::Cpu,
        }
    }
}
