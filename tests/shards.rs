//! Shards: `--shard K/N` runs of a generated tree are disjoint and complete, and `merge` of
//! their outputs gives the unsharded run's records, summary, exit status and report.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::PathBuf;

use common::tree::{Tree, by_name, lines, run};
use serde_json::Value;

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Records without their timings, by name.
fn comparable(records: &[Value]) -> std::collections::BTreeMap<String, Value> {
    let mut records = by_name(records);
    for record in records.values_mut() {
        record.as_object_mut().unwrap().remove("elapsed_ms");
    }
    records
}

fn without_wall(summary: &Value) -> Value {
    let mut summary = summary.clone();
    summary.as_object_mut().unwrap().remove("wall_ms");
    summary
}

#[test]
fn shards_are_disjoint_complete_and_merge_to_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    for i in 0..30 {
        match i % 5 {
            0 => tree.changed(&format!("d{}/c{i}.png", i % 3), i, 7),
            1 => tree.one_side(&tree.b.clone(), &format!("n{i}.png"), i),
            _ => tree.same(&format!("d{}/s{i}.png", i % 4), i),
        }
        std::fs::write(tree.a.join(format!("t{i}.txt")), "text").unwrap();
    }
    let (a, b) = (tree.a.as_os_str(), tree.b.as_os_str());
    let whole = run(&[a, b]);
    assert_eq!(whole.status.code(), Some(1));
    let (all_records, all_summary) = lines(&whole.stdout);
    assert_eq!(all_summary["pairs"], 30);
    assert_eq!(all_summary["skipped"], 30);

    let count = 4;
    let mut seen = BTreeSet::new();
    let mut files = Vec::new();
    for k in 1..=count {
        let shard = format!("{k}/{count}");
        let out = run(&[a, b, os("--shard"), os(&shard)]);
        let (records, _) = lines(&out.stdout);
        assert!(!records.is_empty(), "shard {shard} is empty");
        for record in &records {
            let name = record["name"].as_str().unwrap().to_owned();
            assert!(seen.insert(name.clone()), "{name} is in two shards");
        }
        let file = dir.path().join(format!("shard-{k}.jsonl"));
        std::fs::write(&file, &out.stdout).unwrap();
        files.push(file);
    }
    let all_names: BTreeSet<String> = by_name(&all_records).into_keys().collect();
    assert_eq!(seen, all_names);

    // The same split again: the hash is stable.
    let again = run(&[a, b, os("--shard"), os("2/4")]);
    let first = std::fs::read(&files[1]).unwrap();
    assert_eq!(
        comparable(&lines(&again.stdout).0),
        comparable(&lines(&first).0)
    );

    let report = dir.path().join("merged.html");
    let mut args: Vec<&OsStr> = vec![os("merge")];
    args.extend(files.iter().map(|f| f.as_os_str()));
    args.extend([os("--report"), report.as_os_str()]);
    let merged = run(&args);
    assert_eq!(merged.status.code(), whole.status.code());
    let (merged_records, merged_summary) = lines(&merged.stdout);
    assert_eq!(comparable(&merged_records), comparable(&all_records));
    assert_eq!(without_wall(&merged_summary), without_wall(&all_summary));
    let page = std::fs::read_to_string(&report).unwrap();
    assert_eq!(page.matches("<tr data-i=").count(), 30);
    args.push(os("--allow-missing"));
    assert_eq!(run(&args).status.code(), Some(0));
}

#[test]
fn bad_shards_and_merges_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(dir.path());
    tree.same("x.png", 1);
    for bad in ["0/2", "3/2", "1-2", "x"] {
        let out = run(&[
            tree.a.as_os_str(),
            tree.b.as_os_str(),
            os("--shard"),
            os(bad),
        ]);
        common::assert_error(&out, "--shard");
    }
    let shard = dir.path().join("s.jsonl");
    let whole = run(&[tree.a.as_os_str(), tree.b.as_os_str()]);
    std::fs::write(&shard, &whole.stdout).unwrap();
    let out = run(&[os("merge"), shard.as_os_str()]);
    common::assert_error(&out, "s.jsonl:1: no shard header");
    let only = run(&[
        tree.a.as_os_str(),
        tree.b.as_os_str(),
        os("--shard"),
        os("1/1"),
    ]);
    std::fs::write(&shard, &only.stdout).unwrap();
    let out = run(&[os("merge"), shard.as_os_str(), shard.as_os_str()]);
    common::assert_error(&out, "s.jsonl: shard 1/1 is also");
    let header = String::from_utf8(only.stdout).unwrap();
    let header = header.lines().next().unwrap();
    std::fs::write(&shard, format!("{header}\n{{\"name\": \"x\"}}\n")).unwrap();
    let out = run(&[os("merge"), shard.as_os_str()]);
    common::assert_error(&out, "s.jsonl:2: missing field");
}

/// Writes the outputs of shards 1..=`count` of the run of `tree` under `dir` as
/// `shard-K.jsonl`, and returns their paths and texts.
fn shard_files(tree: &Tree, dir: &std::path::Path, count: u32) -> Vec<(PathBuf, String)> {
    (1..=count)
        .map(|k| {
            let shard = format!("{k}/{count}");
            let out = run(&[
                tree.a.as_os_str(),
                tree.b.as_os_str(),
                os("--shard"),
                os(&shard),
            ]);
            let file = dir.join(format!("shard-{k}.jsonl"));
            std::fs::write(&file, &out.stdout).unwrap();
            (file, String::from_utf8(out.stdout).unwrap())
        })
        .collect()
}

fn merge(files: &[&PathBuf]) -> std::process::Output {
    let mut args = vec![os("merge")];
    args.extend(files.iter().map(|f| f.as_os_str()));
    run(&args)
}

#[test]
fn merge_takes_only_every_shard_of_one_set_complete() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Tree::new(&dir.path().join("t"));
    for i in 0..24 {
        tree.same(&format!("s{i}.png"), i);
    }
    let shards = shard_files(&tree, dir.path(), 3);
    for (k, (_, text)) in shards.iter().enumerate() {
        let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(header["shard"]["index"], k + 1);
        assert_eq!(header["shard"]["count"], 3);
        assert_eq!(header["shard"]["set"], lines_set(&shards[0].1));
        assert!(text.lines().last().unwrap().starts_with("{\"summary\""));
    }
    let all: Vec<&PathBuf> = shards.iter().map(|(f, _)| f).collect();
    assert_eq!(merge(&all).status.code(), Some(0));

    common::assert_error(&merge(&[all[0], all[2]]), "shard 2/3");
    common::assert_error(&merge(&[all[0], all[1], all[2], all[1]]), "shard 2/3");

    // Cut at a line boundary: without its summary, or with a record fewer than it counts.
    let cut = dir.path().join("cut.jsonl");
    let text = &shards[0].1;
    let body: Vec<&str> = text.lines().collect();
    std::fs::write(&cut, body[..body.len() - 1].join("\n") + "\n").unwrap();
    common::assert_error(&merge(&[&cut, all[1], all[2]]), "cut.jsonl: no summary");
    let mut fewer = body.clone();
    fewer.remove(1);
    std::fs::write(&cut, fewer.join("\n") + "\n").unwrap();
    common::assert_error(&merge(&[&cut, all[1], all[2]]), "cut.jsonl: ");
    std::fs::write(&cut, "").unwrap();
    common::assert_error(&merge(&[&cut, all[1], all[2]]), "cut.jsonl: ");

    // A shard of another set of pairs.
    tree.same("extra.png", 99);
    let other_dir = dir.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = shard_files(&tree, &other_dir, 3);
    common::assert_error(&merge(&[all[0], &other[1].0, all[2]]), "set");
    common::assert_error(&merge(&[&dir.path().join("none.jsonl")]), "none.jsonl");
}

fn lines_set(text: &str) -> Value {
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    header["shard"]["set"].clone()
}
