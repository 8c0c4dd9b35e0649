//! The difficulty a block must have before the merge: Frontier's formula, Homestead's
//! (EIP-2) and Byzantium's (EIP-100, counting the parent's ommers), with the difficulty bomb
//! and the delays the later forks gave it.

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_primitives::U256;
use replay_evm::chain::Fork;

/// Smallest difficulty before the merge.
const MIN_DIFFICULTY: u64 = 131_072;

/// The difficulty `fork`'s formula gives a child of `parent` with `header`'s number and
/// timestamp: Frontier's, Homestead's (EIP-2) or Byzantium's (EIP-100, counting the
/// parent's ommers), at least 131072, plus the bomb `2^(fake / 100000 - 2)` with the fake
/// number `number - delay`.
pub(crate) fn difficulty(header: &Header, parent: &Header, fork: Fork, delay: u64) -> U256 {
    let elapsed = header.timestamp.saturating_sub(parent.timestamp);
    // The step is `parent / 2048` times a factor in [-99, 2].
    let factor: i64 = if fork >= Fork::Byzantium {
        let uncles = if parent.ommers_hash == EMPTY_OMMER_ROOT_HASH {
            1
        } else {
            2
        };
        (uncles - (elapsed / 9).min(1000) as i64).max(-99)
    } else if fork >= Fork::Homestead {
        (1 - (elapsed / 10).min(1000) as i64).max(-99)
    } else if elapsed < 13 {
        1
    } else {
        -1
    };
    let step = parent.difficulty / U256::from(2048);
    let magnitude = step * U256::from(factor.unsigned_abs());
    let mut difficulty = if factor >= 0 {
        parent.difficulty.saturating_add(magnitude)
    } else {
        parent.difficulty.saturating_sub(magnitude)
    };
    difficulty = difficulty.max(U256::from(MIN_DIFFICULTY));
    let fake = header.number.saturating_sub(delay);
    let period = fake / 100_000;
    if period > 1 {
        difficulty = difficulty.saturating_add(U256::from(1) << ((period - 2) as usize));
    }
    difficulty
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difficulty_formulas() {
        // Block 10 at time 1000 with difficulty 1000000 and no ommers.
        let parent = Header {
            number: 10,
            timestamp: 1000,
            difficulty: U256::from(1_000_000),
            ..Default::default()
        };
        let at = |elapsed: u64| Header {
            number: 11,
            timestamp: 1000 + elapsed,
            ..Default::default()
        };
        let step = U256::from(1_000_000 / 2048);
        let base = U256::from(1_000_000);
        assert_eq!(difficulty(&at(5), &parent, Fork::Frontier, 0), base + step);
        assert_eq!(difficulty(&at(13), &parent, Fork::Frontier, 0), base - step);
        assert_eq!(
            difficulty(&at(25), &parent, Fork::Homestead, 0),
            base - step
        );
        assert_eq!(difficulty(&at(9), &parent, Fork::Byzantium, 0), base);
        // The minimum, and the bomb: 2^(fake / 100000 - 2).
        let small = Header {
            difficulty: U256::from(MIN_DIFFICULTY),
            ..parent.clone()
        };
        let late = Header {
            number: 300_000,
            timestamp: 2000,
            ..Default::default()
        };
        assert_eq!(
            difficulty(&late, &small, Fork::Homestead, 0),
            U256::from(MIN_DIFFICULTY + 2)
        );
    }
}
