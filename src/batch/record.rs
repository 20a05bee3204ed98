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
    /// Image 1's path, when there is one.
    pub a: Option<String>,
    /// Image 2's path, when there is one.
    pub b: Option<String>,
    /// What became of the pair.
    pub status: Status,
    /// The two files are equal byte for byte: nothing was decoded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identical_files: bool,
    #[serde(flatten)]
    /// The comparison's figures, when it ran.
    pub figures: Option<Figures>,
    /// The diff image written under `--diff-dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Why the pair could not be compared.
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Notes the comparison printed (layout promotion, an engine falling back).
    pub notes: Vec<String>,
    /// The pair's FLIP map (magma), for the report's difference view; not in the record's
    /// JSON.
    #[serde(skip)]
    pub map: Option<std::path::PathBuf>,
}

impl Record {
    /// The name, byte for byte.
    pub fn raw_name(&self) -> Result<Name, String> {
        match &self.name_bytes {
            Some(hex) => Name::from_hex(hex),
            None => Ok(Name::from(self.name.clone())),
        }
    }

    /// The record as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Counts over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Pairs in the run.
    pub pairs: u64,
    /// Pairs with no difference.
    pub equal: u64,
    /// Pairs with differences, within the gates.
    pub changed: u64,
    /// Pairs over a gate.
    pub over_gate: u64,
    /// Names only in the second folder or list column.
    pub added: u64,
    /// Names only in the first folder or list column.
    pub removed: u64,
    /// Pairs that could not be compared.
    pub errors: u64,
    /// Files that are not images, left out.
    pub skipped: u64,
    /// Wall time of the run, in milliseconds.
    pub wall_ms: f64,
}

/// The summary line: `{"summary": {...}}`.
#[derive(Serialize, Deserialize)]
pub struct SummaryLine {
    pub summary: Summary,
}

impl Summary {
    /// Counts one record of `status`.
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

    /// Sets the run's wall time.
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

    /// The summary as its JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&SummaryLine { summary: *self }).unwrap_or_default()
    }
}
