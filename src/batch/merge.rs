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
    /// The shard's header line.
    pub header: Header,
    /// Its records, in order.
    pub records: Vec<Record>,
    /// Its summary line.
    pub summary: Summary,
}

/// Reads one shard's output; `file` is what errors call it.
pub fn read(reader: impl BufRead, file: &str) -> Result<ShardOutput, Error> {
    let mut lines = Lines::new(reader, file, RECORD_LINE_CAP);
    let mut current = None;
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
        let Some((_, shard)) = &current else {
            let HeaderLine { shard: header } = serde_json::from_str(line)
                .map_err(|_| bad("no shard header: not the output of a run with --shard".into()))?;
            let Some(shard) = header.shard() else {
                let (index, count) = (header.index, header.count);
                return Err(bad(format!("shard {index}/{count} does not exist")));
            };
            current = Some((header, shard));
            continue;
        };
        if let Ok(SummaryLine { summary: counts }) = serde_json::from_str(line) {
            summary = Some(counts);
            continue;
        }
        let record: Record = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let name = record.raw_name().map_err(bad)?;
        if !shard.holds(name.as_bytes()) {
            return Err(bad(format!("pair '{name}' is not in shard {shard}")));
        }
        records.push(record);
    }
    let (header, _) =
        current.ok_or_else(|| Error::input(file, "no shard header: the output is empty"))?;
    let summary =
        summary.ok_or_else(|| Error::input(file, "no summary line: the output is cut short"))?;
    let mut counted = Summary::default();
    for record in &records {
        counted.count(record.status);
    }
    let same_counts = Summary {
        skipped: summary.skipped,
        wall_ms: summary.wall_ms,
        ..counted
    } == summary;
    if !same_counts {
        let cause = format!(
            "its summary does not count its records ({} pairs counted, {} records)",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::shard::Shard;

    const RECORD: &str = r#"{"name":"x","a":"a/x","b":null,"status":"removed"}"#;
    const SUMMARY: &str = r#"{"summary":{"pairs":1,"equal":0,"changed":0,"over_gate":0,"added":0,"removed":1,"errors":0,"skipped":0,"wall_ms":1.0}}"#;

    /// Shard `index` of 2 of the set "s", holding `lines` after its header.
    fn shard(index: u32, lines: &[&str]) -> String {
        let header = r#"{"shard":{"index":K,"count":2,"set":"s"}}"#;
        let mut text = header.replace('K', &index.to_string());
        for line in lines {
            text = text + "\n" + line;
        }
        text
    }

    /// The shard of 2 that holds the pair "x".
    fn holder() -> u32 {
        (1..=2)
            .find(|&index| Shard { index, count: 2 }.holds(b"x"))
            .unwrap()
    }

    #[test]
    fn a_shard_must_hold_its_own_pairs_and_end_with_its_summary() {
        let (own, other) = (holder(), 3 - holder());
        assert!(read(shard(own, &[RECORD, SUMMARY]).as_bytes(), "f").is_ok());
        let error = read(shard(other, &[RECORD, SUMMARY]).as_bytes(), "f").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("f:2: pair 'x' is not in shard")
        );
        let after = read(shard(own, &[RECORD, SUMMARY, RECORD]).as_bytes(), "f").unwrap_err();
        assert_eq!(after.to_string(), "f:4: a line after the summary");
        let uncounted = read(shard(own, &[SUMMARY]).as_bytes(), "f").unwrap_err();
        assert!(
            uncounted
                .to_string()
                .starts_with("f: its summary does not count")
        );
    }

    #[test]
    fn shards_combine_when_all_are_there() {
        let (own, other) = (holder(), 3 - holder());
        let empty = SUMMARY.replace("1,", "0,");
        let outputs = |texts: &[String]| -> Vec<(String, ShardOutput)> {
            let files = texts.iter().enumerate().map(|(i, t)| (i.to_string(), t));
            files
                .map(|(file, text)| {
                    let output = read(text.as_bytes(), &file).unwrap();
                    (file, output)
                })
                .collect()
        };
        let both = [shard(own, &[RECORD, SUMMARY]), shard(other, &[&empty])];
        let (records, summary) = combine(outputs(&both)).unwrap();
        assert_eq!((records.len(), summary.pairs, summary.removed), (1, 1, 1));
        let missing = combine(outputs(&both[..1])).unwrap_err().to_string();
        assert_eq!(missing, format!("merge: shard {other}/2 of set s missing"));
        let foreign = [both[0].clone(), both[1].replace("\"s\"", "\"t\"")];
        let error = combine(outputs(&foreign)).unwrap_err().to_string();
        assert!(error.contains("of set t does not belong with 0"), "{error}");
    }
}
