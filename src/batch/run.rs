//! Running the pairs: a few pairs at a time, each compared as a single pair would be (band by
//! band, in little memory), files equal byte for byte settled from their headers (limits and
//! checks applied, pixels not compared), and a record handed back for each pair as soon as it
//! completes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Instant;

use same_file::Handle;

use super::diff_folder;
use super::name::Name;
use super::pairs::Pair;
use super::record::{Record, Status};
use crate::compare::{compare, identical};
use crate::decode::open_regular;
use crate::error::Error;
use crate::options::Options;
use crate::report::{Figures, Gates};
use crate::style::Style;

/// How to run a batch.
#[derive(Clone)]
pub struct RunOptions {
    /// The options of every comparison (`diff_image` is set per pair).
    pub compare: Options,
    /// Pairs over one of these are `over-gate`.
    pub gates: Gates,
    /// Where diff images of the pairs that differ go, at their names' relative paths.
    pub diff_dir: Option<PathBuf>,
    /// The folders the pairs were found in: the diff folder may not be, hold or lie in one of
    /// them, nor in the folder of any pair's file.
    pub input_folders: Vec<PathBuf>,
    /// Pairs compared at once.
    pub jobs: usize,
    /// Set it to stop starting pairs; those under way finish.
    pub cancel: Arc<AtomicBool>,
    /// With FLIP and no diff folder, where each differing pair's FLIP map (the `flip` style)
    /// is written for the report's difference view, as `INDEX.png`.
    pub maps: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            compare: Options::default(),
            gates: Gates::default(),
            diff_dir: None,
            input_folders: Vec::new(),
            jobs: thread::available_parallelism().map_or(1, |n| n.get()),
            cancel: Arc::default(),
            maps: None,
        }
    }
}

/// Compares `pairs`, calling `on_record` on the calling thread with each record as it
/// completes, and returns the records in the order of `pairs` (fewer when cancelled). Fails
/// only when the diff folder overlaps the inputs or cannot be made, or two pairs' diff images
/// would take one path.
pub fn run(
    pairs: &[Pair],
    options: &RunOptions,
    mut on_record: impl FnMut(&Record),
) -> Result<Vec<Record>, Error> {
    let diff_dir = match &options.diff_dir {
        Some(dir) => Some(
            check_diff_names(pairs)
                .and_then(|()| diff_folder::prepare(dir, &options.input_folders, pairs))?,
        ),
        None => None,
    };
    let next = AtomicUsize::new(0);
    let (send, receive) = mpsc::channel();
    let mut done: Vec<Option<Record>> = vec![None; pairs.len()];
    thread::scope(|s| {
        for _ in 0..options.jobs.clamp(1, pairs.len().max(1)) {
            let send = send.clone();
            let (next, diff_dir) = (&next, diff_dir.as_ref());
            s.spawn(move || {
                while !options.cancel.load(Ordering::Relaxed) {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(pair) = pairs.get(index) else { break };
                    let compared = || compare_pair(index, pair, options, diff_dir);
                    let record = catch_unwind(AssertUnwindSafe(compared)).unwrap_or_else(|_| {
                        error_record(pair, "internal error: the comparison panicked")
                    });
                    if send.send((index, record)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(send);
        for (index, record) in receive {
            on_record(&record);
            done[index] = Some(record);
        }
    });
    Ok(done.into_iter().flatten().collect())
}

fn compare_pair(
    index: usize,
    pair: &Pair,
    options: &RunOptions,
    diff_dir: Option<&PathBuf>,
) -> Record {
    let (a, b) = match (&pair.a, &pair.b) {
        (Some(a), Some(b)) => (a, b),
        (Some(_), None) => return new_record(pair, Status::Removed),
        _ => return new_record(pair, Status::Added),
    };
    let start = Instant::now();
    let diff_name = match diff_dir.map(|_| diff_name(&pair.name)).transpose() {
        Ok(name) => name,
        Err(cause) => return error_record(pair, cause),
    };
    let mut record = new_record(pair, Status::Equal);
    // The render metrics are computed from the pixels, whose filters read every one; equal
    // files still give the figures a comparison gives.
    let metrics = options.compare.flip_wanted().is_some() || options.compare.ssim_wanted();
    if !metrics && same_bytes(a, b) {
        return match identical(a, &options.compare) {
            Ok(report) => {
                let figures = Figures {
                    engine: None,
                    elapsed_ms: start.elapsed().as_secs_f64() * 1000.0,
                    ..report.figures()
                };
                if let (Some(dir), Some(name)) = (diff_dir, &diff_name) {
                    remove_stale(dir, name);
                }
                record.identical_files = true;
                record.figures = Some(figures);
                record
            }
            Err(e) => error_record(pair, e),
        };
    }
    let target = match diff_dir.zip(diff_name) {
        Some((dir, name)) => match diff_target(dir, &name, &pair.name) {
            Ok(target) => Some(target),
            Err(cause) => return error_record(pair, cause),
        },
        None => None,
    };
    let map = match (&target, &options.maps) {
        (None, Some(maps)) => Some(maps.join(format!("{index}.png"))),
        _ => None,
    };
    let compare_options = match &map {
        Some(map) => Options {
            diff_image: Some(map.clone()),
            style: Style::Flip,
            ..options.compare.clone()
        },
        None => Options {
            diff_image: target.clone(),
            ..options.compare.clone()
        },
    };
    let report = match compare(a, b, &compare_options) {
        Ok(report) => report,
        Err(e) => return error_record(pair, e),
    };
    let figures = report.figures();
    record.status = if figures.differing_pixels == 0 {
        for written in [&target, &map].into_iter().flatten() {
            let _ = std::fs::remove_file(written);
        }
        Status::Equal
    } else {
        record.map = map.or_else(|| {
            target
                .clone()
                .filter(|_| options.compare.style == Style::Flip)
        });
        record.diff = target.map(|t| t.to_string_lossy().into_owned());
        if options.gates.exceeded(&report) {
            Status::OverGate
        } else {
            Status::Changed
        }
    };
    record.notes = report.notes;
    record.figures = Some(figures);
    record
}

/// A record of `pair` with `status` and nothing else.
fn new_record(pair: &Pair, status: Status) -> Record {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
    Record {
        name: pair.name.lossy().into_owned(),
        name_bytes: pair.name.hex(),
        a: path(&pair.a),
        b: path(&pair.b),
        status,
        identical_files: false,
        figures: None,
        diff: None,
        error: None,
        notes: Vec::new(),
        map: None,
    }
}

fn error_record(pair: &Pair, cause: impl ToString) -> Record {
    Record {
        error: Some(cause.to_string()),
        ..new_record(pair, Status::Error)
    }
}

/// The diff image's path for the pair `name`, relative to the diff folder: the same path
/// without empty and `.` parts, `.png` added unless it ends so. Names that would land outside
/// the folder are refused.
fn diff_name(name: &Name) -> Result<PathBuf, String> {
    let mut relative = PathBuf::new();
    for part in name.to_path().components() {
        match part {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            _ => return Err(escapes(name)),
        }
    }
    let mut file = relative.into_os_string();
    if file.is_empty() {
        return Err(escapes(name));
    }
    if !Path::new(&file)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        file.push(".png");
    }
    Ok(file.into())
}

fn escapes(name: &Name) -> String {
    format!("name '{name}' would put its diff image outside the diff folder")
}

/// Refuses pairs whose diff images would take one path, or one a folder of the other's,
/// naming both: one would overwrite or remove the other's.
pub fn check_diff_names(pairs: &[Pair]) -> Result<(), Error> {
    let mut owners: BTreeMap<PathBuf, &Name> = BTreeMap::new();
    let refuse = |cause: String| Err(Error::input("--diff-dir", cause));
    for pair in pairs.iter().filter(|p| p.a.is_some() && p.b.is_some()) {
        if let Ok(path) = diff_name(&pair.name) {
            if let Some(first) = owners.get(&path) {
                let (second, path) = (&pair.name, path.display());
                return refuse(format!(
                    "pairs '{first}' and '{second}' would both write the diff image '{path}'"
                ));
            }
            owners.insert(path, &pair.name);
        }
    }
    for (path, second) in &owners {
        for folder in path.ancestors().skip(1) {
            if let Some(first) = owners.get(folder) {
                let folder = folder.display();
                return refuse(format!(
                    "pairs '{first}' and '{second}' would both write '{folder}', \
                     the first its diff image, the second a folder"
                ));
            }
        }
    }
    Ok(())
}

/// `relative` under `dir` (the folder's real path), its folders made. A link inside the
/// folder that leads out of it is refused.
fn diff_target(dir: &Path, relative: &Path, name: &Name) -> Result<PathBuf, String> {
    let target = dir.join(relative);
    let parent = target.parent().ok_or_else(|| escapes(name))?;
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let real_parent = parent
        .canonicalize()
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    let is_link = std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink());
    if !real_parent.starts_with(dir) || is_link {
        return Err(escapes(name));
    }
    Ok(target)
}

/// Removes the diff image an earlier run left under `dir` for a pair that is now equal, unless
/// its folder leads out of `dir` or the file there is not a diff image (has no marker).
fn remove_stale(dir: &Path, relative: &Path) {
    let target = dir.join(relative);
    let inside = target
        .parent()
        .and_then(|p| p.canonicalize().ok())
        .is_some_and(|p| p.starts_with(dir));
    if inside && crate::output::marked(&target) {
        let _ = std::fs::remove_file(&target);
    }
}

/// Whether `a` and `b` are the same file or hold the same bytes. Only regular files are
/// read (`open_regular`: a named pipe is never waited on).
fn same_bytes(a: &Path, b: &Path) -> bool {
    let handle = |path| {
        open_regular(path)
            .ok()
            .and_then(|f| Handle::from_file(f).ok())
    };
    let (Some(mut handle_a), Some(mut handle_b)) = (handle(a), handle(b)) else {
        return false;
    };
    if handle_a == handle_b {
        return true;
    }
    let (file_a, file_b) = (handle_a.as_file_mut(), handle_b.as_file_mut());
    if file_a.metadata().ok().map(|m| m.len()) != file_b.metadata().ok().map(|m| m.len()) {
        return false;
    }
    let (mut chunk_a, mut chunk_b) = (vec![0; 1 << 16], vec![0; 1 << 16]);
    loop {
        let Ok(n) = read_full(file_a, &mut chunk_a) else {
            return false;
        };
        match read_full(file_b, &mut chunk_b) {
            Ok(m) if m == n && chunk_a[..n] == chunk_b[..n] => {}
            _ => return false,
        }
        if n < chunk_a.len() {
            return true;
        }
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
