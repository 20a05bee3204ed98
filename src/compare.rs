//! A comparison from files to report: opens both images, settles the size and layout they are
//! compared in, starts the engines and the diff image, and runs the band pipeline.

use std::cmp::Ordering;
use std::io::Cursor;
use std::path::Path;
use std::thread;
use std::time::Instant;

use crate::canvas::{self, Padded};
use crate::decode::{self, Header, PixelLimits, RowSource};
use crate::engine::choice::Choice;
use crate::engine::cpu::CpuEngine;
use crate::engine::perceptual::Rule;
use crate::engine::{Engine, EngineInfo, Stats};
use crate::error::Error;
use crate::hooks::{self, Hook};
use crate::ignore::Ignored;
use crate::metrics::{self, Metrics, Reopen};
use crate::options::{Canvas, Options};
use crate::output::{self, DiffWriter, OutputOptions};
use crate::perception::{Perception, PerceptualOptions, PerceptualReport};
use crate::pipeline::{Extras, HALO, Plan, run_bands};
use crate::pixel::{Depth, Layout};
use crate::regions::RegionSummary;
use crate::report::Report;
use crate::resize;
use crate::style::Style;

/// Compares the images at `a` and `b`.
pub fn compare(a: &Path, b: &Path, options: &Options) -> Result<Report, Error> {
    let start = Instant::now();
    let limits = options.max_pixels;
    let sources = open_both(
        [a, b],
        || decode::open(a, limits),
        || decode::open(b, limits),
    );
    let reopen = || decode::open(a, limits);
    compare_sources([a, b], sources, Some(&reopen), options, start)
}

/// The report of the image at `path` compared with an identical copy, from its header: opened,
/// limited and checked as `compare` would (no diff image is written), its pixels left alone
/// where the format allows.
pub(crate) fn identical(path: &Path, options: &Options) -> Result<Report, Error> {
    let start = Instant::now();
    let header = guarded(path, || decode::open(path, options.max_pixels))?.header();
    let names = [path, path];
    let wanted = options.perceptual.or(options
        .style
        .draws_planes()
        .then(PerceptualOptions::default));
    check_float(names, [header; 2], wanted.is_some(), options)?;
    check_cmyk(names, [header.layout; 2], wanted.is_some(), false)?;
    let ignored = Ignored::new(
        &options.ignore,
        options.mask.as_deref(),
        header.width,
        header.height,
        options.max_pixels,
    )?;
    Ok(Report {
        width: header.width,
        height: header.height,
        layout: header.layout,
        ignore_alpha: options.ignore_alpha,
        stats: Stats::default(),
        perceptual: wanted.map(|p| PerceptualReport {
            threshold: p.threshold,
            aa: p.aa,
            changed: 0,
            anti_aliased: 0,
            changed_bounds: None,
            regions: RegionSummary::default(),
        }),
        ignored: ignored.count(),
        flip: None,
        ssim: None,
        sizes: None,
        uncovered: 0,
        engine: EngineInfo::Cpu,
        engine_reason: None,
        gpu_bands: 0,
        cpu_bands: 0,
        measured: Vec::new(),
        elapsed: start.elapsed(),
        notes: Vec::new(),
    })
}

/// Opens both images at once, image 2 on a thread of its own; a decoder's panic becomes an
/// error naming its file.
pub(crate) fn open_both<T: Send>(
    names: [&Path; 2],
    open_a: impl FnOnce() -> Result<T, Error>,
    open_b: impl FnOnce() -> Result<T, Error> + Send,
) -> [Result<T, Error>; 2] {
    thread::scope(|s| {
        let opened_b = s.spawn(|| guarded(names[1], open_b));
        let opened_a = guarded(names[0], open_a);
        let opened_b = opened_b
            .join()
            .unwrap_or_else(|_| Err(Error::crashed(names[1])));
        [opened_a, opened_b]
    })
}

/// Runs `f`, which decodes `name`, turning a panic into an error that names the file.
fn guarded<T>(name: &Path, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Error::crashed(name)))
}

/// Compares two encoded images held in memory; errors call them "image 1" and "image 2".
pub fn compare_bytes(a: &[u8], b: &[u8], options: &Options) -> Result<Report, Error> {
    let start = Instant::now();
    let names = [Path::new("image 1"), Path::new("image 2")];
    let open = |name, bytes: &[u8]| {
        guarded(name, || {
            decode::from_stream(name, Cursor::new(bytes.to_vec()), options.max_pixels)
        })
    };
    let sources = [open(names[0], a), open(names[1], b)];
    let reopen = || open(names[0], a);
    compare_sources(names, sources, Some(&reopen), options, start)
}

/// Compares two images already opened as row sources (arrays, images converted on the way);
/// errors call them `names`.
pub fn compare_rows(
    names: [&Path; 2],
    sources: [Box<dyn RowSource>; 2],
    options: &Options,
) -> Result<Report, Error> {
    compare_sources(names, sources.map(Ok), None, options, Instant::now())
}

/// Compares `sources`; `reopen` opens image 1 again where that can be done.
pub(crate) fn compare_sources(
    names: [&Path; 2],
    sources: [Result<Box<dyn RowSource>, Error>; 2],
    reopen: Option<Reopen>,
    options: &Options,
    start: Instant,
) -> Result<Report, Error> {
    let [source_a, source_b] = sources;
    let (mut source_a, mut source_b) = (source_a?, source_b?);
    let (ha, hb) = (source_a.header(), source_b.header());
    let wanted = options.perceptual.or(options
        .style
        .draws_planes()
        .then(PerceptualOptions::default));
    check_float(names, [ha, hb], wanted.is_some(), options)?;
    let (mut covered, mut below) = (None, None);
    let mut height = ha.height;
    if (ha.width, ha.height) != (hb.width, hb.height) {
        if options.canvas == Canvas::Union && !options.resize {
            let width = ha.width.max(hb.width);
            height = ha.height.max(hb.height);
            let limit = options.max_pixels.streamed.max(options.max_pixels.whole);
            PixelLimits::check(Path::new("the union canvas"), width, height, limit)?;
            let sizes = [(ha.width, ha.height), (hb.width, hb.height)];
            covered = Some(sizes);
            // Without a diff image to draw, the rows that only the taller image covers, from
            // those the anti-aliasing test reads below the wider one, are counted apart.
            let rows = match (options.diff_image.as_ref(), wider_above(sizes)) {
                (None, Some((rows, taller))) => {
                    let rows = (rows + HALO).min(height);
                    below = Some(([rows, height], taller));
                    rows
                }
                _ => height,
            };
            source_a = Box::new(Padded::new(source_a, width, rows));
            source_b = Box::new(Padded::new(source_b, width, rows));
        } else {
            source_b = resized_to_first(names, [ha, hb], source_b, options)?;
        }
    }
    let diff_image = options.diff_image.is_some();
    check_cmyk(names, [ha.layout, hb.layout], wanted.is_some(), diff_image)?;
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
    let header = Header {
        layout,
        ..source_a.header()
    };
    let ignored = Ignored::new(
        &options.ignore,
        options.mask.as_deref(),
        header.width,
        height,
        options.max_pixels,
    )?;
    let exposures = metrics::hdr_exposures(names[0], header, options, reopen)?;
    let metrics = Metrics::start(options, names, header, exposures)?;
    let style = options.style;
    let map_floats = style.draws_metric()
        && options
            .diff_image
            .as_deref()
            .is_some_and(output::holds_floats);
    let writer = match &options.diff_image {
        Some(path) => {
            let output = OutputOptions {
                compression: options.compression,
                opaque: match style {
                    Style::Raw => options.ignore_alpha,
                    Style::Mask => false,
                    Style::Highlight | Style::Heatmap | Style::Flip | Style::Ssim => true,
                },
                max_whole_pixels: options.max_pixels.whole,
            };
            let diff = Header {
                layout: match map_floats {
                    true => Layout::new(1, Depth::Float),
                    false => style.layout(layout),
                },
                ..header
            };
            let palette =
                (style != Style::Raw && !map_floats).then(|| style.palette(options.diff_colour));
            let inputs: Vec<&Path> = names.into_iter().chain(options.mask.as_deref()).collect();
            Some(DiffWriter::create(path, diff, output, &inputs, palette)?)
        }
        None => None,
    };
    let perception = wanted.map(|p| {
        let heat = style == Style::Heatmap;
        let rule = Rule::new(p.threshold, layout.depth, p.aa, options.ignore_alpha, heat);
        Perception::new(p, rule, header.width)
    });
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
    let extras = Extras {
        perception,
        metrics,
        ignored: &ignored,
        covered,
        style,
    };
    let plan = Plan {
        band_pixels: options.band_pixels,
        progress: options.progress.clone(),
        ignore_alpha: options.ignore_alpha,
        diff_image: options.diff_image.as_deref(),
        map_floats,
    };
    let mut found = run_bands(sources, names, header, plan, &mut engine, writer, extras)?;
    if let Some((rows, width)) = below {
        let perception = found.perception.as_mut();
        let (stats, left_out) = canvas::below(rows, width, layout, &ignored, perception);
        found.stats = found.stats.merge(stats);
        found.ignored += left_out;
    }
    notes.extend(engine.notes().iter().cloned());
    let (flip, ssim) = found
        .metrics
        .as_mut()
        .map_or((None, None), |m| m.finish(options));
    Ok(Report {
        flip,
        ssim,
        width: header.width,
        height,
        layout,
        ignore_alpha: options.ignore_alpha,
        stats: found.stats,
        perceptual: found.perception.map(Perception::finish),
        ignored: found.ignored,
        uncovered: covered.map_or(0, |sizes| uncovered((header.width, height), sizes)),
        sizes: covered,
        engine: engine.info(),
        gpu_bands: engine.gpu_bands(),
        cpu_bands: engine.cpu_bands(),
        measured: engine.measured(),
        engine_reason: engine.reason(),
        elapsed: start.elapsed(),
        notes,
    })
}

/// The pixels of a union canvas of `size` that neither image, of `sizes`, covers.
fn uncovered(size: (u32, u32), sizes: [(u32, u32); 2]) -> u64 {
    let area = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
    let [a, b] = sizes;
    let both = (a.0.min(b.0), a.1.min(b.1));
    area(size) - (area(a) + area(b) - area(both))
}

/// Where one image of `sizes` is wider and the other taller: the wider one's height and the
/// taller one's width (below the wider image, only the taller one covers any pixel).
fn wider_above([a, b]: [(u32, u32); 2]) -> Option<(u32, u32)> {
    match (a.0.cmp(&b.0), a.1.cmp(&b.1)) {
        (Ordering::Greater, Ordering::Less) => Some((a.1, b.0)),
        (Ordering::Less, Ordering::Greater) => Some((b.1, a.0)),
        _ => None,
    }
}

/// `source_b` resized to the first image's size, when `options` ask for it; a size mismatch
/// error otherwise.
fn resized_to_first(
    names: [&Path; 2],
    [ha, hb]: [Header; 2],
    source_b: Box<dyn RowSource>,
    options: &Options,
) -> Result<Box<dyn RowSource>, Error> {
    if !options.resize {
        return Err(Error::SizeMismatch {
            a: names[0].to_owned(),
            a_size: (ha.width, ha.height),
            b: names[1].to_owned(),
            b_size: (hb.width, hb.height),
        });
    }
    guarded(names[1], || {
        hooks::fire(Hook::Rows(names[1]));
        resize::resized(source_b, ha.width, ha.height, names[1], options.max_pixels)
    })
}

/// Floating-point images are compared only with floating-point images (integers would need a
/// scale and a transfer curve to meet them), for the ratio, its figures and the raw diff
/// image; the changed-pixel count, diff styles and resizing are defined on integer samples.
fn check_float(
    names: [&Path; 2],
    headers: [Header; 2],
    perceptual: bool,
    options: &Options,
) -> Result<(), Error> {
    let Some(i) = headers.iter().position(|h| h.layout.depth.is_float()) else {
        return Ok(());
    };
    let other = 1 - i;
    let sizes = headers.map(|h| (h.width, h.height));
    let cause = if !headers[other].layout.depth.is_float() {
        let (name, layout) = (names[other].display(), headers[other].layout);
        format!(
            "is floating point and {name} is {layout}: floating-point images are compared only \
             with floating-point images"
        )
    } else if perceptual {
        "is floating point: the changed-pixel count and diff styles are made for integer \
         samples (floating point gives the ratio, its figures and the raw diff image)"
            .into()
    } else if options.resize && sizes[0] != sizes[1] {
        "is floating point: --resize is made for integer samples".into()
    } else {
        return Ok(());
    };
    Err(Error::decode(names[i], cause))
}

/// CMYK is compared only with CMYK, on its four samples as stored, for the ratio and its
/// figures: the changed-pixel count and the diff image are defined on light (grey or RGB), and
/// converting inks to light needs a colour profile, so both are refused for CMYK.
fn check_cmyk(
    names: [&Path; 2],
    layouts: [Layout; 2],
    perceptual: bool,
    diff_image: bool,
) -> Result<(), Error> {
    let Some(i) = layouts.iter().position(|l| l.cmyk) else {
        return Ok(());
    };
    let other = 1 - i;
    if !layouts[other].cmyk {
        return Err(Error::decode(
            names[i],
            format!(
                "is CMYK and {} is {}: CMYK images are compared only with CMYK images",
                names[other].display(),
                layouts[other]
            ),
        ));
    }
    let refused = match (perceptual, diff_image) {
        (true, _) => "the changed-pixel count and diff styles are",
        (false, true) => "diff images are",
        (false, false) => return Ok(()),
    };
    Err(Error::decode(
        names[i],
        format!("is CMYK: {refused} made for grey or RGB images only (CMYK gives the ratio)"),
    ))
}
