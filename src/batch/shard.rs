//! Shards: `K/N` keeps the pairs whose name hashes to K, so N machines that agree on nothing
//! but the hash split a run between them, disjoint and complete. Each shard's output opens
//! with a header that says which shard of which set of pairs it is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::name::Name;

/// Shard `index` of `count`, both counted from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard's number, from 1.
    pub index: u32,
    /// Shards in all.
    pub count: u32,
}

impl Shard {
    /// Whether the pair or file called `name` (its raw bytes) belongs to this shard.
    pub fn holds(&self, name: &[u8]) -> bool {
        fnv1a(name) % u64::from(self.count) == u64::from(self.index - 1)
    }
}

/// The first line of a shard's output: `{"shard": {"index": K, "count": N, "set": DIGEST}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The shard's number, from 1.
    pub index: u32,
    /// Shards in all.
    pub count: u32,
    /// The digest of the whole run's pair names: shards of one run share it.
    pub set: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeaderLine {
    pub shard: Header,
}

impl Header {
    /// The header of `shard` of the run of the pairs called `names`, in any order.
    pub fn new<'a>(shard: Shard, names: impl IntoIterator<Item = &'a Name>) -> Header {
        let mut names: Vec<&[u8]> = names.into_iter().map(Name::as_bytes).collect();
        names.sort_unstable();
        let mut bytes = Vec::new();
        for name in names {
            bytes.extend_from_slice(&(name.len() as u64).to_le_bytes());
            bytes.extend_from_slice(name);
        }
        Header {
            index: shard.index,
            count: shard.count,
            set: format!("{:016x}", fnv1a(&bytes)),
        }
    }

    /// The shard it names, when it is one.
    pub fn shard(&self) -> Option<Shard> {
        (1..=self.count).contains(&self.index).then_some(Shard {
            index: self.index,
            count: self.count,
        })
    }

    /// The header as its JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&HeaderLine {
            shard: self.clone(),
        })
        .unwrap_or_default()
    }
}

/// FNV-1a, 64 bits: fixed by its definition, so every machine and every version agrees.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("'{text}' is not K/N with 1 <= K <= N");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1", "a/b", "1/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_name_in_exactly_one_shard() {
        let shards: Vec<Shard> = (1..=5).map(|k| Shard { index: k, count: 5 }).collect();
        for i in 0..1000 {
            let name = format!("dir/{i}.png");
            assert_eq!(
                shards.iter().filter(|s| s.holds(name.as_bytes())).count(),
                1
            );
        }
    }

    #[test]
    fn set_digest_ignores_order_not_names() {
        let names = |list: &[&str]| -> Vec<Name> {
            list.iter().map(|n| Name::from(n.to_string())).collect()
        };
        let shard = Shard { index: 1, count: 2 };
        let ab = Header::new(shard, &names(&["a", "b"]));
        assert_eq!(ab, Header::new(shard, &names(&["b", "a"])));
        assert_ne!(ab.set, Header::new(shard, &names(&["ab"])).set);
        assert_ne!(ab.set, Header::new(shard, &names(&["a", "b", "c"])).set);
    }

    #[test]
    fn hash_is_the_published_fnv1a() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
