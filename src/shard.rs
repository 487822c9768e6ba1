//! Which replica plans which series, when one Headroom is not enough.
//!
//! Each series (model + entity labels) belongs to exactly one of N replicas, chosen by
//! rendezvous hashing (highest random weight): every replica computes the same owner without
//! talking to the others, and going from N to N + 1 replicas moves only the series the new
//! replica wins, about 1/(N + 1) of them. The hash (FNV-1a with a SplitMix64 finaliser) is
//! written out here rather than taken from std, whose hasher may change between Rust versions
//! and would then reshuffle every series on upgrade.

use crate::series::Labels;

/// This replica's part of the fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    /// One replica owning everything.
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

/// Why shard numbers are not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--shard-count must be at least 1")]
    NoShards,
    #[error("--shard-index {index} is out of range for --shard-count {count} (valid: 0 to {})", count - 1)]
    OutOfRange { index: u32, count: u32 },
    #[error("{0:?} is not a shard index: give a number, or a pod name ending in one (headroom-2)")]
    NotAnIndex(String),
}

impl Shard {
    /// A shard, or why the numbers are wrong.
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError::NoShards);
        }
        if index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Shard { index, count })
    }

    /// Whether this replica plans the series of `model` with `labels`.
    pub fn owns(&self, model: &str, labels: &Labels) -> bool {
        self.count <= 1 || owner(model, labels, self.count) == self.index
    }

    /// Whether the fleet is split at all.
    pub fn is_split(&self) -> bool {
        self.count > 1
    }
}

/// Parses a shard index given as a number or as a StatefulSet pod name (`headroom-2` → 2).
pub fn parse_index(text: &str) -> Result<u32, ShardError> {
    let digits: String = text
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().map_err(|_| ShardError::NotAnIndex(text.to_string()))
}

/// The replica (of `count`) that owns the series of `model` with `labels`.
pub fn owner(model: &str, labels: &Labels, count: u32) -> u32 {
    let key = key_hash(model, labels);
    (0..count)
        .max_by_key(|replica| (mix(key ^ mix(u64::from(*replica) + 1)), *replica))
        .unwrap_or(0)
}

fn key_hash(model: &str, labels: &Labels) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
        // A separator that cannot occur in names, so ("ab","c") and ("a","bc") differ.
        hash ^= 0xff;
        hash = hash.wrapping_mul(PRIME);
    };
    feed(model.as_bytes());
    for (name, value) in labels.iter() {
        feed(name.as_bytes());
        feed(value.as_bytes());
    }
    hash
}

/// SplitMix64's finaliser: spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(n: usize) -> Vec<Labels> {
        (0..n)
            .map(|i| Labels::new([("instance", format!("node-{i}:9100")), ("mountpoint", "/".to_string())]))
            .collect()
    }

    #[test]
    fn every_series_has_exactly_one_owner_and_shares_are_even() {
        let series = fleet(30_000);
        for count in [1u32, 3, 4, 7] {
            let shards: Vec<Shard> = (0..count).map(|i| Shard::new(i, count).expect("shard")).collect();
            let mut per_shard = vec![0usize; count as usize];
            for labels in &series {
                let owners: Vec<u32> = shards
                    .iter()
                    .filter(|s| s.owns("disk", labels))
                    .map(|s| s.index)
                    .collect();
                assert_eq!(owners.len(), 1, "{labels}");
                per_shard[owners[0] as usize] += 1;
            }
            let fair = series.len() as f64 / f64::from(count);
            for share in per_shard {
                assert!(
                    (share as f64 - fair).abs() < 0.05 * fair,
                    "{count} shards: {share} vs {fair}"
                );
            }
        }
    }

    #[test]
    fn growing_from_three_to_four_replicas_moves_a_quarter_and_only_to_the_new_one() {
        let series = fleet(20_000);
        let mut moved = 0;
        for labels in &series {
            let (before, after) = (owner("disk", labels, 3), owner("disk", labels, 4));
            if before != after {
                moved += 1;
                assert_eq!(after, 3, "a series moved between old replicas");
            }
        }
        let share = moved as f64 / series.len() as f64;
        assert!((0.22..0.28).contains(&share), "moved {share}");
    }

    #[test]
    fn the_owner_depends_on_the_model_and_is_stable() {
        let labels = Labels::new([("instance", "db-1:9100")]);
        // Pinned: a change here would reshuffle every fleet on upgrade.
        assert_eq!(key_hash("disk", &labels), 13_666_293_807_107_177_454);
        assert_eq!(owner("disk", &labels, 4), 1);
        let models: std::collections::BTreeSet<u32> = ["disk", "cpu", "memory", "requests", "inodes"]
            .iter()
            .map(|m| owner(m, &labels, 4))
            .collect();
        assert!(models.len() > 1, "the model name is part of the key");
        assert_eq!(key_hash("disk", &labels), key_hash("disk", &labels.clone()));
        assert_eq!(parse_index("headroom-12"), Ok(12));
        assert_eq!(parse_index("3"), Ok(3));
        assert!(parse_index("headroom").is_err());
        assert!(Shard::new(4, 4).is_err());
    }
}
