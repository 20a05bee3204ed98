//! The reference tools the render-metric benchmark times diffimg against (NVIDIA's `flip`
//! command and scikit-image's SSIM through `benches/ssim_reference.py`): finding them, their
//! rows, and the means they and diffimg print.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::find_on_path;
use super::measure::Row;

/// Arguments of any path-like or string kind, as a command takes them.
pub fn os_args(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    args.iter().map(|a| a.as_ref().to_owned()).collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Flip,
    Ssim,
}

pub struct References {
    pub flip: Option<PathBuf>,
    /// A Python that imports NumPy, Pillow and scikit-image, or why there is none.
    pub python: Result<PathBuf, String>,
}

pub fn find_references() -> References {
    let flip = std::env::var_os("FLIP_EVALUATOR")
        .map(PathBuf::from)
        .or_else(|| find_on_path("flip"));
    let beside_flip = flip
        .as_ref()
        .and_then(|f| f.parent())
        .map(|dir| dir.join("python"))
        .filter(|p| p.is_file());
    let python = std::env::var_os("SSIM_PYTHON")
        .map(PathBuf::from)
        .or(beside_flip)
        .or_else(|| find_on_path("python3"))
        .ok_or_else(|| "not found: no python".to_string())
        .and_then(|python| {
            let imports = Command::new(&python)
                .args(["-c", "import numpy, PIL, skimage"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match imports {
                Ok(s) if s.success() => Ok(python),
                _ => Err(format!(
                    "not found: {} lacks numpy, Pillow or scikit-image",
                    python.display()
                )),
            }
        });
    References { flip, python }
}

pub fn ssim_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ssim_reference.py")
}

/// The reference's row: NVIDIA's `flip` writing nothing but its figures (its output folder is
/// the scratch folder all the same), or scikit-image's SSIM from a small script.
pub fn reference_row(
    metric: Metric,
    exr: bool,
    a: &Path,
    b: &Path,
    scratch: &Path,
    refs: &References,
) -> Row {
    let (label, found) = match metric {
        Metric::Flip => {
            let label = if exr {
                "flip (HDR-FLIP)"
            } else {
                "flip (LDR-FLIP)"
            };
            let args = |flip: &PathBuf| {
                let out = scratch.join("flip");
                let flags = ["-nerm", "-nexm", "-v", "2", "-d"];
                let mut args = os_args(&[&"-r", &a, &"-t", &b]);
                args.extend(flags.map(OsString::from));
                args.push(out.into_os_string());
                Row::command(label, flip, args)
            };
            let found = refs.flip.as_ref().map(args).ok_or_else(|| {
                "not found (set FLIP_EVALUATOR, or put flip-evaluator's flip on PATH)".to_string()
            });
            (label, found)
        }
        Metric::Ssim => {
            let label = "skimage SSIM (Pillow decoding)";
            let found = refs.python.as_ref().map_err(Clone::clone).map(|python| {
                let args = os_args(&[&ssim_script(), &a, &b]);
                Row::command(label, python, args)
            });
            (label, found)
        }
    };
    found.unwrap_or_else(|why| {
        let mut row = Row::command(label, Path::new("-"), Vec::new());
        row.optional = true;
        row.failed = Some(why);
        row
    })
}

/// `"mean"` of the metric's object in diffimg's `--json` output.
pub fn diffimg_mean(stdout: &str, metric: Metric) -> Option<f64> {
    let key = match metric {
        Metric::Flip => "flip",
        Metric::Ssim => "ssim",
    };
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).ok()?;
    json.get(key)?.get("mean")?.as_f64()
}

/// The number after `label` on a line of a reference's output.
pub fn labelled(stdout: &str, label: &str) -> Option<f64> {
    stdout.lines().find_map(|line| {
        let rest = line.trim().strip_prefix(label)?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The mean a row printed: diffimg's JSON (empty `label`) or a labelled reference line.
pub fn measured_mean(row: &Row, label: &str) -> Option<f64> {
    if row.failed.is_some() || row.times.is_empty() {
        return None;
    }
    if label.is_empty() {
        diffimg_mean(
            &row.stdout,
            if row.label.contains("--ssim") {
                Metric::Ssim
            } else {
                Metric::Flip
            },
        )
    } else {
        labelled(&row.stdout, label)
    }
}
