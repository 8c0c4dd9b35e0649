//! The ommer (uncle) rules of a block against its ancestors: at most two ommers, none
//! already included within the last six generations or twice, none an ancestor, each a child
//! of an ancestor within seven generations other than the parent, and each a valid header
//! against its own parent (`header.rs`).

use std::{collections::HashSet, fmt};

use alloy_consensus::Header;
use alloy_primitives::B256;

use super::{
    header::{HeaderRule, check_header},
    network::Network,
};

/// At most this many ommers per block.
const MAX_OMMERS: usize = 2;
/// Ommers may be children of ancestors up to this many generations back.
const OMMER_GENERATIONS: usize = 7;

/// The ommer rule a block breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OmmerRule {
    /// More than two ommers.
    TooMany,
    /// An ommer already included in the last generations, or twice in the block.
    Duplicate,
    /// An ommer that is an ancestor of the block.
    IsAncestor,
    /// An ommer whose parent is not an ancestor within seven generations, or is the
    /// block's own parent (a sibling).
    Dangling,
    /// An ommer header that breaks a header rule against its own parent.
    Header(HeaderRule),
}

/// A block whose ommers break a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OmmerError {
    /// The rule broken.
    pub(crate) rule: OmmerRule,
    /// What is wrong.
    pub(crate) message: String,
}

impl fmt::Display for OmmerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// One ancestor of a block, as the ommer rules need it.
pub(crate) struct Ancestor<'a> {
    /// Its hash.
    pub(crate) hash: B256,
    /// Its header.
    pub(crate) header: &'a Header,
    /// The hashes of its own ommers.
    pub(crate) ommers: &'a [B256],
}

/// Checks the `ommers` of the block `hash` with `header` against its `ancestors` (parent
/// first, up to seven generations).
///
/// # Errors
/// The first rule broken.
pub(crate) fn check_ommers(
    hash: B256,
    header: &Header,
    ommers: &[Header],
    ancestors: &[Ancestor<'_>],
    network: &Network,
) -> Result<(), OmmerError> {
    let fail = |rule, message: String| Err(OmmerError { rule, message });
    if ommers.len() > MAX_OMMERS {
        return fail(
            OmmerRule::TooMany,
            format!("{} ommers, more than {MAX_OMMERS}", ommers.len()),
        );
    }
    let ancestors = &ancestors[..ancestors.len().min(OMMER_GENERATIONS)];
    let mut included: HashSet<B256> = ancestors
        .iter()
        .flat_map(|a| a.ommers.iter().copied())
        .collect();
    included.insert(hash);
    for (index, ommer) in ommers.iter().enumerate() {
        let ommer_hash = ommer.hash_slow();
        if !included.insert(ommer_hash) {
            return fail(
                OmmerRule::Duplicate,
                format!("ommer {index} ({ommer_hash}) is already included"),
            );
        }
        if ommer_hash == hash || ancestors.iter().any(|a| a.hash == ommer_hash) {
            return fail(
                OmmerRule::IsAncestor,
                format!("ommer {index} ({ommer_hash}) is an ancestor of the block"),
            );
        }
        let parent = ancestors.iter().find(|a| a.hash == ommer.parent_hash);
        let Some(parent) = parent.filter(|_| ommer.parent_hash != header.parent_hash) else {
            return fail(
                OmmerRule::Dangling,
                format!(
                    "ommer {index} ({ommer_hash}): its parent {} is not an ancestor other than \
                     the block's parent within {OMMER_GENERATIONS} generations",
                    ommer.parent_hash
                ),
            );
        };
        if let Err(error) = check_header(ommer, parent.header, network) {
            return fail(
                OmmerRule::Header(error.rule),
                format!("ommer {index} ({ommer_hash}): {error}"),
            );
        }
    }
    Ok(())
}
