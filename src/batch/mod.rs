//! Many pairs in one run: pairs found in two folders or read from a list, compared
//! concurrently with every single-pair option, one record per pair, a summary, an HTML report,
//! and shards that spread a run over machines.

mod diff_folder;
mod lines;
pub mod merge;
mod name;
pub mod pairs;
mod preview;
mod record;
pub mod report;
mod run;
pub mod shard;

pub use name::Name;
pub use pairs::{Pair, PairSet};
pub use record::{Record, Status, Summary};
pub use run::{RunOptions, check_diff_names, run};
pub use shard::Shard;
