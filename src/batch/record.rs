//! What a batch run says: one record per pair, a summary of them all, and the exit status that
//! follows from them. Both are single JSON lines, read back by `merge`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::name::Name;
use crate::report::Figures;

/// What became of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// No counted channel differs.
    Equal,
    /// Some pixels differ, within the gate.
    Changed,
    /// The ratio exceeds `--max-ratio`.
    OverGate,
    /// Only in the second folder.
    Added,
    /// Only in the first folder.
    Removed,
    /// The pair could not be compared.
    Error,
}

/// One pair's line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The name as text; see `name_bytes`.
    pub name: String,
    /// The name's bytes in hex, for a name that is not UTF-8 (`name` then shows it lossily).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_bytes: Option<String>,
    pub a: Option<String>,
    pub b: Option<String>,
    pub status: Status,
    /// The two files are equal byte for byte: nothing was decoded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identical_files: bool,
    #[serde(flatten)]
    pub figures: Option<Figures>,
    /// The diff image written under `--diff-dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Record {
    /// The name, byte for byte.
    pub fn raw_name(&self) -> Result<Name, String> {
        match &self.name_bytes {
            Some(hex) => Name::from_hex(hex),
            None => Ok(Name::from(self.name.clone())),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Counts over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub pairs: u64,
    pub equal: u64,
    pub changed: u64,
    pub over_gate: u64,
    pub added: u64,
    pub removed: u64,
    pub errors: u64,
    /// Files that are not images, left out.
    pub skipped: u64,
    pub wall_ms: f64,
}

/// The summary line: `{"summary": {...}}`.
#[derive(Serialize, Deserialize)]
pub struct SummaryLine {
    pub summary: Summary,
}

impl Summary {
    pub fn count(&mut self, status: Status) {
        self.pairs += 1;
        *match status {
            Status::Equal => &mut self.equal,
            Status::Changed => &mut self.changed,
            Status::OverGate => &mut self.over_gate,
            Status::Added => &mut self.added,
            Status::Removed => &mut self.removed,
            Status::Error => &mut self.errors,
        } += 1;
    }

    pub fn set_wall(&mut self, wall: Duration) {
        self.wall_ms = wall.as_secs_f64() * 1000.0;
    }

    /// 2 when a pair failed, 1 when one is over the gate or (unless allowed) added or
    /// removed, 0 otherwise.
    pub fn exit_code(&self, allow_missing: bool) -> u8 {
        if self.errors > 0 {
            2
        } else if self.over_gate > 0 || (!allow_missing && self.added + self.removed > 0) {
            1
        } else {
            0
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&SummaryLine { summary: *self }).unwrap_or_default()
    }
}
