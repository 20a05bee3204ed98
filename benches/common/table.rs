//! The benchmark tables: one row per measure, times against the decoding floor.

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::measure::{Row, median};

pub fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

pub fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb < 10.0 {
        format!("{mb:.2} MB")
    } else {
        format!("{mb:.0} MB")
    }
}

/// Seconds with three decimals, or milliseconds below 10 ms.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 0.01 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.3} s")
    }
}

pub fn file_size(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

pub const LABEL_WIDTH: usize = 30;

pub fn print_header() {
    println!(
        "  {:<LABEL_WIDTH$} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9}  output",
        "measure", "wall", "vs floor", "vs warm", "best", "cpu", "max RSS"
    );
}

/// The floors a figure is shown against: decoding in a process of its own, as the tool runs,
/// and decoding again inside the warm bench process.
#[derive(Clone, Copy)]
pub struct Floors {
    pub process: Duration,
    pub warm: Duration,
}

pub fn print_row(row: &Row, floors: Floors) {
    let label = &row.label;
    if let Some(why) = &row.failed {
        let what = if row.optional {
            "unavailable"
        } else {
            "failed"
        };
        println!("  {label:<LABEL_WIDTH$} {what}: {why}");
        return;
    }
    let (Some(wall), Some(best)) = (row.wall(), row.times.iter().map(|t| t.0).min()) else {
        println!("  {label:<LABEL_WIDTH$} no runs");
        return;
    };
    let cpu = median(row.times.iter().map(|t| t.1).collect()).unwrap_or_default();
    let ratio = |floor: Duration| {
        if floor.is_zero() {
            "-".to_string()
        } else {
            format!("{:.2}x", wall.as_secs_f64() / floor.as_secs_f64())
        }
    };
    let rss = row.max_rss.map(megabytes).unwrap_or_else(|| "-".into());
    println!(
        "  {label:<LABEL_WIDTH$} {:>9} {:>9} {:>9} {:>9} {:>8} {rss:>9}  {}",
        seconds(wall),
        ratio(floors.process),
        ratio(floors.warm),
        seconds(best),
        seconds(cpu),
        clip(&row.output, 40),
    );
}
