//! Shard outputs read back and put together. Each output must open with its shard header, end
//! with its summary, and count what its records hold; together they must be the shards 1..N of
//! one set of pairs, each once, with no pair twice.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use super::lines::{Lines, RECORD_LINE_CAP};
use super::name::Name;
use super::record::{Record, Summary, SummaryLine};
use super::shard::{Header, HeaderLine};
use crate::error::Error;

/// One shard's output, checked.
#[derive(Clone, Debug)]
pub struct ShardOutput {
    pub header: Header,
    pub records: Vec<Record>,
    pub summary: Summary,
}

/// Reads one shard's output; `file` is what errors call it.
pub fn read(reader: impl BufRead, file: &str) -> Result<ShardOutput, Error> {
    let mut lines = Lines::new(reader, file, RECORD_LINE_CAP);
    let mut header = None;
    let mut records = Vec::new();
    let mut summary = None;
    while let Some((at, line)) = lines.next_line()? {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |cause: String| Error::input(&at, cause);
        if summary.is_some() {
            return Err(bad("a line after the summary".into()));
        }
        let Some(header) = &header else {
            let HeaderLine { shard } = serde_json::from_str(line)
                .map_err(|_| bad("no shard header: not the output of a run with --shard".into()))?;
            if shard.shard().is_none() {
                return Err(bad(format!(
                    "shard {}/{} does not exist",
                    shard.index, shard.count
                )));
            }
            header = Some(shard);
            continue;
        };
        if let Ok(SummaryLine { summary: counts }) = serde_json::from_str(line) {
            summary = Some(counts);
            continue;
        }
        let record: Record = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let name = record.raw_name().map_err(bad)?;
        let shard = header.shard().expect("checked with the header");
        if !shard.holds(name.as_bytes()) {
            return Err(bad(format!("pair '{name}' is not in shard {shard}")));
        }
        records.push(record);
    }
    let header =
        header.ok_or_else(|| Error::input(file, "no shard header: the output is empty"))?;
    let summary =
        summary.ok_or_else(|| Error::input(file, "no summary line: the output is cut short"))?;
    let mut counted = Summary::default();
    for record in &records {
        counted.count(record.status);
    }
    let counts = |s: &Summary| {
        [
            s.pairs,
            s.equal,
            s.changed,
            s.over_gate,
            s.added,
            s.removed,
            s.errors,
        ]
    };
    if counts(&counted) != counts(&summary) {
        let cause = format!(
            "its summary counts {} pairs, but it holds {} records, or other statuses",
            summary.pairs, counted.pairs
        );
        return Err(Error::input(file, cause));
    }
    Ok(ShardOutput {
        header,
        records,
        summary,
    })
}

/// The records of all `outputs` (by file name), sorted by name, and their summary; refuses
/// outputs that are not every shard of one set once, and pairs found twice.
pub fn combine(outputs: Vec<(String, ShardOutput)>) -> Result<(Vec<Record>, Summary), Error> {
    let Some((first_file, first)) = outputs.first() else {
        return Err(Error::input("merge", "no shard outputs"));
    };
    let (count, set) = (first.header.count, first.header.set.clone());
    let mut files_of: BTreeMap<u32, &str> = BTreeMap::new();
    for (file, output) in &outputs {
        let header = &output.header;
        if header.count != count || header.set != set {
            let cause = format!(
                "shard {}/{} of set {} does not belong with {first_file}, shard {}/{count} of set {set}",
                header.index, header.count, header.set, first.header.index
            );
            return Err(Error::input(file, cause));
        }
        if let Some(other) = files_of.insert(header.index, file) {
            return Err(Error::input(
                file,
                format!("shard {}/{count} is also {other}", header.index),
            ));
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|k| !files_of.contains_key(k))
        .map(|k| format!("shard {k}/{count}"))
        .collect();
    if !missing.is_empty() {
        let cause = format!("{} of set {set} missing", missing.join(", "));
        return Err(Error::input("merge", cause));
    }
    let mut summary = Summary::default();
    let mut records = Vec::new();
    let mut file_of: HashMap<Name, String> = HashMap::new();
    for (file, output) in outputs {
        summary.skipped += output.summary.skipped;
        summary.wall_ms += output.summary.wall_ms;
        for record in output.records {
            let name = record.raw_name().map_err(|e| Error::input(&file, e))?;
            if let Some(other) = file_of.insert(name, file.clone()) {
                let cause = format!("pair '{}' is also in {other}", record.name);
                return Err(Error::input(&file, cause));
            }
            summary.count(record.status);
            records.push(record);
        }
    }
    records.sort_by_cached_key(|r| r.raw_name().unwrap_or_default());
    Ok((records, summary))
}
