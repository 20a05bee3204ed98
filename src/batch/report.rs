//! The HTML report: one self-contained page (styles and script inline, nothing fetched) with a
//! summary, a sortable and filterable table of the pairs and a viewer (side by side, swipe,
//! onion skin), and a `NAME_files/` folder beside it with the previews and thumbnails of the
//! pairs that differ. Both are made under temporary names and put in place only when complete.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use serde::Serialize;
use tempfile::{NamedTempFile, TempDir};

use super::preview::{Images, previews};
use super::record::{Record, Status, Summary};
use crate::error::Error;
use crate::output::{Listed, unfinished};
use crate::report::Figures;

const PAGE: &str = include_str!("page.html");

/// A folder for files the report is made from, removed when dropped (and, listed as
/// unfinished, on a signal).
pub struct Scratch {
    dir: TempDir,
    _listed: Listed,
}

impl Scratch {
    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A scratch folder beside the report at `path`.
pub fn scratch(path: &Path) -> Result<Scratch, Error> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Listed::make(
        || {
            tempfile::Builder::new()
                .prefix(".diffimg-maps-")
                .tempdir_in(folder)
        },
        TempDir::path,
    )
    .map(|(dir, listed)| Scratch {
        dir,
        _listed: listed,
    })
    .map_err(|e| Error::output(path, format!("cannot write in {}: {e}", folder.display())))
}

/// Writes the report of `records` to `path` (`.html`) and its images to the `_files` folder
/// beside it, the previews of `jobs` pairs at a time. Stops, leaving nothing, when `cancel` is
/// set.
pub fn write(
    path: &Path,
    records: &[Record],
    summary: &Summary,
    jobs: usize,
    cancel: &AtomicBool,
) -> Result<(), Error> {
    let fail = |e: &dyn std::fmt::Display| Error::output(path, e);
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let stem = path
        .file_stem()
        .ok_or_else(|| fail(&"is not a file name"))?
        .to_string_lossy();
    if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(fail(&"exists and is not a regular file"));
    }
    let files_name = format!("{stem}_files");
    let files_dir = folder.join(&files_name);
    if std::fs::symlink_metadata(&files_dir).is_ok_and(|m| !m.is_dir()) {
        return Err(Error::output(&files_dir, "exists and is not a folder"));
    }
    let (staging, _staging) = Listed::make(
        || {
            tempfile::Builder::new()
                .prefix(".diffimg-report-")
                .tempdir_in(folder)
        },
        TempDir::path,
    )
    .map_err(|e| fail(&format!("cannot write in {}: {e}", folder.display())))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| fail(&e))?;
    let images: Vec<Images> = pool.install(|| {
        records
            .par_iter()
            .enumerate()
            .map(|(index, record)| {
                if cancel.load(Ordering::Relaxed) {
                    return Images::default();
                }
                previews(index, record, staging.path())
            })
            .collect()
    });
    if cancel.load(Ordering::Relaxed) {
        return Err(fail(&"interrupted"));
    }
    let page = render(records, summary, &images, &url_component(&files_name));
    let (mut html, _html) = Listed::make(
        || {
            tempfile::Builder::new()
                .prefix(".diffimg-")
                .suffix(".tmp")
                .tempfile_in(folder)
        },
        NamedTempFile::path,
    )
    .map_err(|e| fail(&e))?;
    html.write_all(page.as_bytes()).map_err(|e| fail(&e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(0o644);
        html.as_file().set_permissions(mode).map_err(|e| fail(&e))?;
        std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| fail(&e))?;
    }
    // The old folder moves aside, the new one takes its name, then the page takes its own.
    let (old, _old) = Listed::make(
        || {
            tempfile::Builder::new()
                .prefix(".diffimg-old-")
                .tempdir_in(folder)
        },
        TempDir::path,
    )
    .map_err(|e| fail(&e))?;
    // A signal waits for the three renames: the old report stays whole, or the new one is.
    let swapping = unfinished();
    if files_dir.is_dir() {
        std::fs::rename(&files_dir, old.path().join("files")).map_err(|e| fail(&e))?;
    }
    let staging = staging.keep();
    std::fs::rename(&staging, &files_dir).map_err(|e| fail(&e))?;
    html.persist(path).map_err(|e| fail(&e.error))?;
    drop(swapping);
    Ok(())
}

/// Checks, before a run, that a report can be written at `path`: its folder exists, and the
/// path is not a folder.
pub fn check(path: &Path) -> Result<(), Error> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(Error::output(
            path,
            format!("folder {} does not exist", folder.display()),
        ));
    }
    if path.is_dir() || path.file_stem().is_none() {
        return Err(Error::output(path, "is not a file name"));
    }
    Ok(())
}

/// What the page's script knows of a pair.
#[derive(Serialize)]
struct PageEntry<'a> {
    name: &'a str,
    status: Status,
    a: Option<&'a str>,
    b: Option<&'a str>,
    ratio: Option<f64>,
    percent: Option<String>,
    differing: Option<u64>,
    flip: Option<f64>,
    ssim: Option<f64>,
    size: Option<String>,
    error: Option<&'a str>,
    note: Option<&'a str>,
    img: PageImages,
}

#[derive(Serialize)]
struct PageImages {
    a: Option<String>,
    b: Option<String>,
    d: Option<String>,
}

fn render(records: &[Record], summary: &Summary, images: &[Images], files_url: &str) -> String {
    let url = |name: &Option<String>| name.as_ref().map(|n| format!("{files_url}/{n}"));
    let mut rows = String::new();
    let mut entries = Vec::with_capacity(records.len());
    let has = |f: fn(&Figures) -> bool| records.iter().any(|r| r.figures.as_ref().is_some_and(f));
    let (flip_column, ssim_column) = (has(|f| f.flip.is_some()), has(|f| f.ssim.is_some()));
    let mut heads = String::new();
    if flip_column {
        heads.push_str("<th data-sort=\"flip\">FLIP</th>");
    }
    if ssim_column {
        heads.push_str("<th data-sort=\"ssim\">SSIM</th>");
    }
    for (index, (record, images)) in records.iter().zip(images).enumerate() {
        let figures = record.figures.as_ref();
        let percent = figures.map(|f| format_percent(f.percent));
        let status = serde_json::to_value(record.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let thumb = url(&images.thumb)
            .map(|src| format!("<img loading=\"lazy\" alt=\"\" src=\"{}\">", escape(&src)))
            .unwrap_or_default();
        let flip = figures.and_then(|f| f.flip.as_ref()).map(|f| f.mean);
        let ssim = figures.and_then(|f| f.ssim.as_ref()).map(|s| s.mean);
        let mut metric_cells = String::new();
        for (shown, value) in [(flip_column, flip), (ssim_column, ssim)] {
            if shown {
                let value = value.map(|v| format!("{v:.4}")).unwrap_or_default();
                let _ = write!(metric_cells, "<td class=\"num\">{value}</td>");
            }
        }
        let _ = writeln!(
            rows,
            "<tr data-i=\"{index}\"><td class=\"num\">{}</td><td class=\"thumb\">{thumb}</td>\
             <td class=\"name\">{}</td><td><span class=\"st st-{status}\">{status}</span></td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td>{metric_cells}</tr>",
            index + 1,
            escape_shown(&record.name),
            percent
                .as_deref()
                .map(|p| format!("{p}%"))
                .unwrap_or_default(),
            figures
                .map(|f| f.differing_pixels.to_string())
                .unwrap_or_default(),
        );
        entries.push(PageEntry {
            name: &record.name,
            status: record.status,
            a: record.a.as_deref(),
            b: record.b.as_deref(),
            ratio: figures.map(|f| f.ratio),
            percent,
            differing: figures.map(|f| f.differing_pixels),
            flip,
            ssim,
            size: figures.map(|f| format!("{}x{}", f.width, f.height)),
            error: record.error.as_deref(),
            note: images.note.as_deref(),
            img: PageImages {
                a: url(&images.a),
                b: url(&images.b),
                d: url(&images.diff),
            },
        });
    }
    let summary_html = format!(
        "<span class=\"count\"><b>{}</b> pairs</span><span class=\"count\"><b>{}</b> equal</span>\
         <span class=\"count\"><b>{}</b> changed</span><span class=\"count\"><b>{}</b> over the \
         gate</span><span class=\"count\"><b>{}</b> added</span><span class=\"count\"><b>{}</b> \
         removed</span><span class=\"count\"><b>{}</b> errors</span><span class=\"count\"><b>{}\
         </b> skipped</span>",
        summary.pairs,
        summary.equal,
        summary.changed,
        summary.over_gate,
        summary.added,
        summary.removed,
        summary.errors,
        summary.skipped
    );
    let data = serde_json::to_string(&entries).unwrap_or_else(|_| "[]".into());
    fill(
        PAGE,
        &[
            ("{{SUMMARY}}", &summary_html),
            ("{{METRIC_HEADS}}", &heads),
            ("{{ROWS}}", &rows),
            ("{{DATA}}", &script_safe(&data)),
        ],
    )
}

/// `template` with each marker replaced once, in order; text put in is never searched again.
fn fill(template: &str, parts: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + parts.iter().map(|p| p.1.len()).sum::<usize>());
    let mut rest = template;
    for (marker, text) in parts {
        if let Some((before, after)) = rest.split_once(marker) {
            out.push_str(before);
            out.push_str(text);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn format_percent(percent: f64) -> String {
    match percent {
        0.0 => "0".into(),
        p if p < 0.001 => format!("{p:.1e}"),
        p => format!("{:.3}", p),
    }
}

/// Text made safe between tags and inside quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether `c` would act on the text around it rather than show: a control character, or one
/// that sets the direction of text (which can make a name read as another).
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `escape`d text with each `hidden` character shown as its escape (`\x1b`, `\u{202e}`) in a
/// style of its own, as the page's script shows them too.
fn escape_shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !hidden(c) {
            out.push_str(&escape(c.encode_utf8(&mut [0; 4])));
        } else if c.is_ascii() {
            let _ = write!(out, "<span class=\"esc\">\\x{:02x}</span>", c as u32);
        } else {
            let _ = write!(out, "<span class=\"esc\">\\u{{{:04x}}}</span>", c as u32);
        }
    }
    out
}

/// JSON made safe inside a `<script>` element: no `<`, `>` or `&` can end it. They occur only
/// inside strings, where the escapes mean the same.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `text` percent-encoded for use as one segment of a relative URL.
fn url_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_break_out() {
        assert_eq!(
            escape("<img src=x onerror=alert(1)>.png"),
            "&lt;img src=x onerror=alert(1)&gt;.png"
        );
        assert_eq!(
            script_safe(r#"["</script>"]"#),
            r#"["\u003c/script\u003e"]"#
        );
        assert_eq!(url_component("my report_files"), "my%20report_files");
    }

    #[test]
    fn hidden_characters_show() {
        assert_eq!(
            escape_shown("a\u{202e}<b>\x1b\u{85}.png"),
            "a<span class=\"esc\">\\u{202e}</span>&lt;b&gt;<span class=\"esc\">\\x1b</span>\
             <span class=\"esc\">\\u{0085}</span>.png"
        );
    }

    #[test]
    fn markers_inside_text_stay() {
        let out = fill("x{{A}}y{{B}}z", &[("{{A}}", "{{B}}"), ("{{B}}", "b")]);
        assert_eq!(out, "x{{B}}ybz");
    }
}
