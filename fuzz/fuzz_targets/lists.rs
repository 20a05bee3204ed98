//! The text batch mode reads back: a pair list (first byte even) or shard outputs separated by
//! NUL bytes, read and merged (first byte odd). Every input must give pairs, merged records or
//! an error: never a panic, an abort or a hang; what is accepted holds together.
#![no_main]

use std::path::Path;

use diffimg::batch::merge::{combine, read};
use diffimg::batch::pairs::from_list;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flag, text)) = data.split_first() else {
        return;
    };
    if flag & 1 == 0 {
        if let Ok(set) = from_list(text, "list", Path::new("base")) {
            let mut names: Vec<_> = set.pairs.iter().map(|p| &p.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), set.pairs.len(), "a name twice");
        }
        return;
    }
    let outputs: Result<Vec<_>, _> = text
        .split(|&byte| byte == 0)
        .enumerate()
        .map(|(i, part)| {
            let file = format!("shard-{i}");
            read(part, &file).map(|output| (file, output))
        })
        .collect();
    let Ok(outputs) = outputs else { return };
    for (_, output) in &outputs {
        assert_eq!(output.summary.pairs as usize, output.records.len());
    }
    if let Ok((records, summary)) = combine(outputs) {
        assert_eq!(summary.pairs as usize, records.len());
        let names: Vec<_> = records.iter().map(|r| r.raw_name().unwrap()).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted, each once");
    }
});
