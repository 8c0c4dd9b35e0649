//! Block selection: the `--blocks SPEC` grammar and `--sample K --seed S`.
//!
//! A SPEC is a comma-separated list of items:
//! - `A-B`: blocks A to B, both included (`A <= B`);
//! - `N`: block N;
//! - `latest-N`: the N blocks up to the node's `finalized` block (its head where it has none).
//!
//! Items may overlap; the selection is their union, ascending. Block 0 (genesis) has no
//! parent to take a pre-state from and cannot be selected. [`sample`] draws K blocks of a
//! selection uniformly without replacement, deterministically from a seed.

use std::{collections::BTreeSet, fmt, str::FromStr};

/// One item of a SPEC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// Blocks `first..=last`.
    Range(u64, u64),
    /// The N blocks up to the node's finalized block (or head).
    Latest(u64),
}

/// A parsed `--blocks` SPEC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSpec {
    text: String,
    items: Vec<Item>,
}

/// A SPEC that cannot be parsed or resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--blocks `{spec}`: {reason}")]
pub struct SpecError {
    /// The SPEC as given.
    pub spec: String,
    /// What is wrong, naming the item.
    pub reason: String,
}

fn number(text: &str, item: &str) -> Result<u64, String> {
    let digits: String = text.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("`{item}`: `{text}` is not a block number"));
    }
    digits
        .parse()
        .map_err(|_| format!("`{item}`: `{text}` is too large"))
}

impl FromStr for BlockSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| SpecError {
            spec: s.to_owned(),
            reason,
        };
        let mut items = Vec::new();
        for raw in s.split(',') {
            let item = raw.trim();
            if item.is_empty() {
                return Err(error("empty item (expected A-B, N or latest-N)".into()));
            }
            let parsed = if let Some(n) = item.strip_prefix("latest-") {
                let n = number(n, item).map_err(error)?;
                if n == 0 {
                    return Err(error(format!("`{item}`: selects no block")));
                }
                Item::Latest(n)
            } else if let Some((a, b)) = item.split_once('-') {
                let (a, b) = (
                    number(a.trim(), item).map_err(error)?,
                    number(b.trim(), item).map_err(error)?,
                );
                if a > b {
                    return Err(error(format!("`{item}`: the range is reversed")));
                }
                Item::Range(a, b)
            } else {
                let n = number(item, item).map_err(error)?;
                Item::Range(n, n)
            };
            if let Item::Range(0, _) = parsed {
                return Err(error(format!(
                    "`{item}`: block 0 (genesis) has no parent to replay it on"
                )));
            }
            items.push(parsed);
        }
        Ok(Self {
            text: s.to_owned(),
            items,
        })
    }
}

impl fmt::Display for BlockSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl BlockSpec {
    /// The items, as given.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Whether resolving needs the node's finalized block (a `latest-N` item).
    pub fn needs_latest(&self) -> bool {
        self.items.iter().any(|i| matches!(i, Item::Latest(_)))
    }

    /// The selection as ascending, disjoint ranges, given the node's `latest` block (its
    /// finalized block or head) and `head`.
    ///
    /// # Errors
    /// [`SpecError`] for a range beyond `head`, or `latest-N` reaching below block 1.
    pub fn resolve(&self, latest: u64, head: u64) -> Result<Vec<(u64, u64)>, SpecError> {
        let error = |reason: String| SpecError {
            spec: self.text.clone(),
            reason,
        };
        let mut ranges = Vec::with_capacity(self.items.len());
        for item in &self.items {
            match *item {
                Item::Range(a, b) => {
                    if b > head {
                        return Err(error(format!(
                            "block {b} is beyond the node's head (block {head})"
                        )));
                    }
                    ranges.push((a, b));
                }
                Item::Latest(n) => {
                    if n > latest {
                        return Err(error(format!(
                            "latest-{n}: the node has only {latest} block(s) after genesis"
                        )));
                    }
                    ranges.push((latest - n + 1, latest));
                }
            }
        }
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        Ok(merged)
    }
}

/// Number of blocks in disjoint `ranges`.
pub fn count(ranges: &[(u64, u64)]) -> u64 {
    ranges.iter().map(|(a, b)| b - a + 1).sum()
}

/// Every block of disjoint ascending `ranges`.
pub fn blocks(ranges: &[(u64, u64)]) -> Vec<u64> {
    ranges.iter().flat_map(|(a, b)| *a..=*b).collect()
}

/// splitmix64: a small, well-mixed deterministic generator (sampling needs no more).
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=bound` (rejection sampling, no modulo bias).
    fn up_to(&mut self, bound: u64) -> u64 {
        if bound == u64::MAX {
            return self.next();
        }
        let span = bound + 1;
        let zone = u64::MAX - (u64::MAX % span);
        loop {
            let x = self.next();
            if x < zone {
                return x % span;
            }
        }
    }
}

/// `k` blocks drawn uniformly without replacement from `ranges` with seed `seed`, ascending
/// (Floyd's algorithm over the positions: memory in `k`, not in the selection's size). All
/// of them when `k` is at least their number.
pub fn sample(ranges: &[(u64, u64)], k: u64, seed: u64) -> Vec<u64> {
    let total = count(ranges);
    if k >= total {
        return blocks(ranges);
    }
    let mut rng = SplitMix(seed);
    let mut chosen = BTreeSet::new();
    for j in (total - k)..total {
        let t = rng.up_to(j);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    // Positions to block numbers, walking the ranges once.
    let mut out = Vec::with_capacity(chosen.len());
    let mut offset = 0;
    let mut positions = chosen.into_iter().peekable();
    for (a, b) in ranges {
        let len = b - a + 1;
        while let Some(p) = positions.next_if(|p| *p < offset + len) {
            out.push(a + (p - offset));
        }
        offset += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> BlockSpec {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_lists_and_singles_merge() {
        let s = spec("5-7, 3,9-10,6-8");
        assert_eq!(s.resolve(100, 100).unwrap(), vec![(3, 3), (5, 10)]);
        assert_eq!(
            blocks(&s.resolve(100, 100).unwrap()),
            vec![3, 5, 6, 7, 8, 9, 10]
        );
        assert_eq!(
            spec("1_000-1_001").resolve(2000, 2000).unwrap(),
            vec![(1000, 1001)]
        );
    }

    #[test]
    fn latest_counts_back_from_finalized() {
        let s = spec("latest-3");
        assert!(s.needs_latest());
        assert_eq!(s.resolve(10, 12).unwrap(), vec![(8, 10)]);
        assert!(s.resolve(2, 2).unwrap_err().reason.contains("only 2"));
    }

    #[test]
    fn malformed_specs_name_the_item() {
        for (text, want) in [
            ("", "empty item"),
            ("1-", "not a block number"),
            ("x", "not a block number"),
            ("9-3", "reversed"),
            ("0-4", "genesis"),
            ("latest-0", "no block"),
            ("latest-x", "not a block number"),
            ("1,,2", "empty item"),
            ("99999999999999999999999", "too large"),
        ] {
            let err = text.parse::<BlockSpec>().unwrap_err();
            assert!(err.reason.contains(want), "{text}: {err}");
            assert!(err.to_string().contains(&format!("`{text}`")), "{err}");
        }
    }

    #[test]
    fn beyond_head_is_an_error() {
        let err = spec("5-20").resolve(10, 12).unwrap_err();
        assert!(
            err.reason.contains("beyond the node's head (block 12)"),
            "{err}"
        );
    }

    #[test]
    fn sample_is_uniform_deterministic_and_without_replacement() {
        let ranges = [(10, 19), (100, 109)];
        let a = sample(&ranges, 5, 7);
        assert_eq!(a, sample(&ranges, 5, 7));
        assert_eq!(a.len(), 5);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert!(
            a.iter()
                .all(|n| (10..=19).contains(n) || (100..=109).contains(n))
        );
        assert_ne!(a, sample(&ranges, 5, 8));
        assert_eq!(sample(&ranges, 50, 1), blocks(&ranges));
        // Every block is drawn about equally often over many seeds.
        let mut hits = [0u32; 20];
        for seed in 0..4000 {
            for n in sample(&ranges, 4, seed) {
                let i = if n < 100 { n - 10 } else { n - 100 + 10 };
                hits[i as usize] += 1;
            }
        }
        // 4000 * 4 / 20 = 800 expected per block.
        assert!(hits.iter().all(|h| (650..950).contains(h)), "{hits:?}");
    }
}
