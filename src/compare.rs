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
use crate::engine::choice::{AutoOptions, Backend, Choice};
use crate::engine::cpu::CpuEngine;
use crate::engine::gpu::GpuOptions;
use crate::engine::{Band, Engine, Stats};
use crate::error::Error;
use crate::output::{self, Compression, DiffWriter};
use crate::pixel::{Layout, Samples, promote};
use crate::report::Report;

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

impl Default for Options {
    fn default() -> Options {
        Options {
            ignore_alpha: false,
            resize: false,
            backend: Backend::Auto,
            diff_image: None,
            compression: Compression::Fast,
            max_pixels: PixelLimits::default(),
            band_pixels: 1 << 18,
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
        // Resizing holds both images whole, and an intermediate image of the second one's
        // width by the first one's height.
        let [a, b] = names;
        let held = [
            (a, ha.width, ha.height),
            (b, hb.width, hb.height),
            (b, hb.width, ha.height),
        ];
        for (name, width, height) in held {
            PixelLimits::check(name, width, height, options.max_pixels.whole)?;
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
    // While both decoders keep the cores busy, splitting bands between threads only adds
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
    let stats = run_bands([source_a, source_b], header, options, &mut engine, writer)?;
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
    engine: &mut dyn Engine,
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
            stats = stats.merge(engine.diff_band(&band, options.ignore_alpha, diff.as_mut())?);
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
