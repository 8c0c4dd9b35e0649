//! The multi-version memory's entries, kept in one arena per shard instead of one vector per
//! written location.
//!
//! Each location's entries are a [`Span`] of its shard's [`Arena`]: a run of slots in one
//! of the arena's chunks, whose capacity is a power of two. A span that fills up moves to a
//! run twice as long and leaves its old run to the arena's free list of that length, from
//! which the next span of that length is taken; a span longer than [`MAX_RUN`] (a hot
//! location: the beneficiary's credits, a pool's reserves) moves to a vector of its own.
//!
//! Why: a 1-Ggas block of transfers writes some 190,000 entries, and with a vector a
//! location, freeing the memory after the worker loop was one `free` a location (cold,
//! half of them another thread's), about 14 ms of one thread beside the fold. An arena is
//! freed a chunk at a time, and recording a first write allocates nothing: raw-transfers'
//! fold at one thread, which frees the memory first, 65.6 and 62.4 -> 59.0 and 57.5 ms
//! (docs/benchmarks-history.md, item 79).
//!
//! The arena is not shared: its shard's lock guards it with the shard's tables.

/// A location's entries: where they are in their shard's arena. The default span is empty
/// and holds no room.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Span {
    /// The chunk, or [`LARGE`] for a span in a vector of its own.
    chunk: u32,
    /// The first slot in the chunk, or the index of the span's own vector.
    offset: u32,
    /// Entries held.
    len: u32,
    /// Slots reserved in the chunk (a power of two; 0 for no room yet).
    cap: u32,
}

/// `Span::chunk` of a span in a vector of its own.
const LARGE: u32 = u32::MAX;

/// The longest run of a chunk a span takes; a longer one gets a vector of its own.
const MAX_RUN: usize = 64;

/// The first chunk's slots; each next chunk doubles, up to [`MAX_CHUNK`], so that a small
/// block's shard holds little room it does not use.
const FIRST_CHUNK: usize = 32;

/// The largest chunk's slots (48 KiB of 48-byte entries).
const MAX_CHUNK: usize = 1024;

/// One shard's entries (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Arena<T> {
    /// Runs of slots; a chunk never grows beyond the capacity it was made with, so that
    /// the slots in it stay where they are.
    chunks: Vec<Vec<T>>,
    /// Freed runs by length (index: the length's log2), as (chunk, offset).
    free: Vec<Vec<(u32, u32)>>,
    /// The spans longer than [`MAX_RUN`].
    large: Vec<Vec<T>>,
}

impl<T: Clone + Default> Arena<T> {
    /// The entries of `span`.
    pub(crate) fn get(&self, span: Span) -> &[T] {
        let (offset, len) = (span.offset as usize, span.len as usize);
        match span.chunk {
            LARGE => &self.large[offset],
            _ if len == 0 => &[],
            chunk => &self.chunks[chunk as usize][offset..offset + len],
        }
    }

    /// The entries of `span`, to change in place.
    pub(crate) fn get_mut(&mut self, span: Span) -> &mut [T] {
        let (offset, len) = (span.offset as usize, span.len as usize);
        match span.chunk {
            LARGE => &mut self.large[offset],
            _ if len == 0 => &mut [],
            chunk => &mut self.chunks[chunk as usize][offset..offset + len],
        }
    }

    /// Inserts `value` at `index` of `span` (at most its length), shifting the later
    /// entries up, as `Vec::insert` does.
    pub(crate) fn insert(&mut self, span: &mut Span, index: usize, value: T) {
        if span.chunk != LARGE && span.len == span.cap {
            self.grow(span);
        }
        let len = span.len as usize;
        span.len += 1;
        if span.chunk == LARGE {
            self.large[span.offset as usize].insert(index, value);
            return;
        }
        let offset = span.offset as usize;
        let run = &mut self.chunks[span.chunk as usize][offset..=offset + len];
        run[len] = value;
        run[index..].rotate_right(1);
    }

    /// Removes the entry at `index` of `span`, shifting the later entries down, as
    /// `Vec::remove` does. The span keeps its room.
    pub(crate) fn remove(&mut self, span: &mut Span, index: usize) {
        let len = span.len as usize;
        span.len -= 1;
        if span.chunk == LARGE {
            self.large[span.offset as usize].remove(index);
            return;
        }
        let offset = span.offset as usize;
        self.chunks[span.chunk as usize][offset + index..offset + len].rotate_left(1);
    }

    /// Moves `span` to a run twice as long (one slot when it has none), or to a vector of
    /// its own beyond [`MAX_RUN`], and frees its old run.
    fn grow(&mut self, span: &mut Span) {
        let cap = (2 * span.cap as usize).max(1);
        let old = *span;
        if cap > MAX_RUN {
            let mut own = Vec::with_capacity(cap);
            own.extend_from_slice(self.get(old));
            // The arena never holds 2^32 large spans: each is more than `MAX_RUN` entries.
            *span = Span {
                chunk: LARGE,
                offset: self.large.len() as u32,
                len: old.len,
                cap: 0,
            };
            self.large.push(own);
        } else {
            let (chunk, offset) = self.take_run(cap);
            *span = Span {
                chunk,
                offset,
                len: old.len,
                cap: cap as u32,
            };
            for i in 0..old.len as usize {
                let value =
                    std::mem::take(&mut self.chunks[old.chunk as usize][old.offset as usize + i]);
                self.chunks[chunk as usize][offset as usize + i] = value;
            }
        }
        if old.cap > 0 {
            self.free_run(old.chunk, old.offset, old.cap as usize);
        }
    }

    /// A free run of `len` slots (a power of two, at most [`MAX_RUN`]): a freed one, or
    /// the next in the last chunk, or the first of a new chunk.
    fn take_run(&mut self, len: usize) -> (u32, u32) {
        let class = len.trailing_zeros() as usize;
        if let Some(run) = self.free.get_mut(class).and_then(Vec::pop) {
            return run;
        }
        let fits = self
            .chunks
            .last()
            .is_some_and(|chunk| chunk.capacity() - chunk.len() >= len);
        if !fits {
            self.retire_last_chunk();
            let size = self
                .chunks
                .last()
                .map_or(FIRST_CHUNK, |chunk| 2 * chunk.capacity())
                .clamp(FIRST_CHUNK, MAX_CHUNK)
                .max(len);
            self.chunks.push(Vec::with_capacity(size));
        }
        let chunk = self.chunks.len() - 1;
        let slots = &mut self.chunks[chunk];
        let offset = slots.len();
        slots.resize_with(offset + len, T::default);
        // Chunks and offsets fit 32 bits: 2^32 chunks of entries are more memory than any
        // machine has.
        (chunk as u32, offset as u32)
    }

    /// Fills the rest of the last chunk and frees it in runs, longest first, so that a
    /// new chunk does not strand it.
    fn retire_last_chunk(&mut self) {
        let Some(last) = self.chunks.len().checked_sub(1) else {
            return;
        };
        let slots = &mut self.chunks[last];
        let mut offset = slots.len();
        let end = slots.capacity();
        slots.resize_with(end, T::default);
        while offset < end {
            let left = end - offset;
            let run = (1 << left.ilog2()).min(MAX_RUN);
            self.free_run(last as u32, offset as u32, run);
            offset += run;
        }
    }

    /// Leaves a run of `len` slots (a power of two) to the next span of that length.
    fn free_run(&mut self, chunk: u32, offset: u32, len: usize) {
        let class = len.trailing_zeros() as usize;
        if self.free.len() <= class {
            self.free.resize_with(class + 1, Vec::new);
        }
        self.free[class].push((chunk, offset));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any sequence of inserts and removes over several spans of one arena leaves each
        /// span holding what a vector given the same operations holds.
        #[test]
        fn spans_hold_what_vectors_would(
            ops in prop::collection::vec((0usize..6, any::<bool>(), any::<u16>(), 0usize..200), 0..3000)
        ) {
            let mut arena = Arena::<u64>::default();
            let mut spans = [Span::default(); 6];
            let mut vecs: [Vec<u64>; 6] = Default::default();
            for (n, (which, insert, value, at)) in ops.into_iter().enumerate() {
                let (span, vec) = (&mut spans[which], &mut vecs[which]);
                if insert || vec.is_empty() {
                    let at = at % (vec.len() + 1);
                    let value = u64::from(value) << 20 | n as u64;
                    arena.insert(span, at, value);
                    vec.insert(at, value);
                } else {
                    let at = at % vec.len();
                    arena.remove(span, at);
                    vec.remove(at);
                }
                for (span, vec) in spans.iter().zip(&vecs) {
                    prop_assert_eq!(arena.get(*span), &vec[..]);
                    prop_assert_eq!(span.len as usize, vec.len());
                }
            }
        }
    }

    /// A run freed by a span's growth is the next run of its length taken: locations
    /// written once each, a few of them again, leave no hole behind.
    #[test]
    fn a_freed_run_is_taken_again() {
        let mut arena = Arena::<u64>::default();
        let mut first = Span::default();
        arena.insert(&mut first, 0, 1);
        let before = first;
        arena.insert(&mut first, 1, 2);
        assert_ne!((first.chunk, first.offset), (before.chunk, before.offset));
        let mut second = Span::default();
        arena.insert(&mut second, 0, 3);
        assert_eq!((second.chunk, second.offset), (before.chunk, before.offset));
        assert_eq!(arena.get(first), &[1, 2]);
        assert_eq!(arena.get(second), &[3]);
        // A span beyond `MAX_RUN` moves to a vector of its own and frees its run too.
        let mut hot = Span::default();
        for i in 0..=MAX_RUN as u64 {
            arena.insert(&mut hot, i as usize, i);
        }
        assert_eq!(hot.chunk, LARGE);
        let mut next = Span::default();
        for i in 0..MAX_RUN as u64 {
            arena.insert(&mut next, i as usize, i);
        }
        assert_eq!(arena.get(hot), (0..=MAX_RUN as u64).collect::<Vec<_>>());
        assert_eq!(arena.get(next), (0..MAX_RUN as u64).collect::<Vec<_>>());
    }
}
