//! The bytes of an archive that reading, planning and writing look at.
//!
//! In memory that is the whole input. For a file read by position (larger
//! than [`Settings::in_memory`](crate::handler::Settings)) it is only its
//! metadata: the tail holding the end records, the central directory, and each
//! local header and data descriptor, loaded at their file offsets as the
//! reader asks for them. Member data is never loaded here: it is copied by
//! range, or read member by member when a handler claims it. Ranges stay file
//! offsets either way, so the reader, the plan and the writer are one code path.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use crate::handler::{FormatError, Source};

/// How many chunks [`Bytes::get`] looks back through for one that covers a
/// range: loads are made in a pattern (header, then name and extra, then a
/// descriptor) that leaves the covering chunk among the last few.
const LOOK_BACK: usize = 8;

/// A slice in memory as a `&dyn Source` (`[u8]` implements [`Source`] but,
/// unsized, cannot be one).
pub(super) struct InMemory<'a>(pub(super) &'a [u8]);

impl Source for InMemory<'_> {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.0.read_at(offset, buf)
    }

    fn as_slice(&self) -> Option<&[u8]> {
        Some(self.0)
    }
}

enum Src<'a> {
    Slice(InMemory<'a>),
    Far(Ahead<'a>),
}

/// How many bytes [`Ahead`] reads at once.
const AHEAD: usize = 64 << 10;

/// A file read by position with read-ahead: the small reads of a jar (a
/// local header, a descriptor, a member's first bytes or its data) come
/// mostly from one 64 KiB read, not one system call each. Larger reads go
/// straight through.
pub(super) struct Ahead<'a> {
    src: &'a dyn Source,
    /// The file offset of the buffer, and the buffer.
    buf: Mutex<(u64, Vec<u8>)>,
}

impl Source for Ahead<'_> {
    fn len(&self) -> u64 {
        self.src.len()
    }

    // The same offsets as the file: member data is copied in the kernel.
    fn file(&self) -> Option<&std::fs::File> {
        self.src.file()
    }

    fn read_at(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        if out.len() >= AHEAD / 2 {
            return self.src.read_at(offset, out);
        }
        let mut guard = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        let (start, buf) = &mut *guard;
        let end = offset.checked_add(out.len() as u64);
        let covered = offset >= *start && end.is_some_and(|e| e <= *start + buf.len() as u64);
        if !covered {
            let n = usize::try_from(self.src.len().saturating_sub(offset))
                .unwrap_or(AHEAD)
                .min(AHEAD);
            if n < out.len() {
                return self.src.read_at(offset, out);
            }
            buf.resize(n, 0);
            if let Err(e) = self.src.read_at(offset, buf) {
                buf.clear();
                return Err(e);
            }
            *start = offset;
        }
        let at = (offset - *start) as usize;
        out.copy_from_slice(&buf[at..at + out.len()]);
        Ok(())
    }
}

/// The input, whole or as the chunks loaded so far.
pub(super) struct Bytes<'a> {
    src: Src<'a>,
    whole: Option<&'a [u8]>,
    /// Loaded chunks: file offset → range in `arena`.
    index: BTreeMap<usize, Range<usize>>,
    /// The largest chunk (the central directory, usually), tried first: the
    /// plan reads names from it at every comparison of its sort.
    largest: Option<(usize, Range<usize>)>,
    arena: Vec<u8>,
    /// How many bytes may be loaded in all (a guard against a central
    /// directory or record that claims gigabytes).
    budget: u64,
    len: usize,
}

impl std::fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bytes")
            .field("len", &self.len)
            .field("whole", &self.whole.is_some())
            .field("loaded", &self.arena.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Bytes<'a> {
    /// A view of `src`; `budget` bounds what may be loaded when it is not in memory.
    pub(super) fn new(src: &'a dyn Source, budget: u64) -> Result<Self, FormatError> {
        let len = usize::try_from(src.len())
            .map_err(|_| FormatError::TooLarge("larger than the address space".into()))?;
        let whole = src.as_slice();
        Ok(Self {
            src: whole.map_or_else(
                || {
                    Src::Far(Ahead {
                        src,
                        buf: Mutex::new((0, Vec::new())),
                    })
                },
                |w| Src::Slice(InMemory(w)),
            ),
            whole,
            index: BTreeMap::new(),
            largest: None,
            arena: Vec::new(),
            budget,
            len,
        })
    }

    /// The input being viewed.
    pub(super) fn source(&self) -> &dyn Source {
        match &self.src {
            Src::Slice(s) => s,
            Src::Far(f) => f,
        }
    }

    /// A view of a slice in memory.
    #[cfg(test)]
    pub(super) fn whole_slice(input: &'a [u8]) -> Self {
        Self {
            src: Src::Slice(InMemory(input)),
            whole: Some(input),
            index: BTreeMap::new(),
            largest: None,
            arena: Vec::new(),
            budget: u64::MAX,
            len: input.len(),
        }
    }

    /// The whole input, when it is in memory.
    pub(super) fn whole(&self) -> Option<&'a [u8]> {
        self.whole
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Makes the part of `r` that lies inside the input readable through
    /// [`Bytes::get`]. What lies outside stays unreadable: the caller's
    /// bounds checks report it as they would for an input in memory.
    pub(super) fn load(&mut self, r: Range<usize>) -> Result<(), FormatError> {
        let r = r.start..r.end.min(self.len);
        if self.whole.is_some() || r.start >= r.end || self.get(r.clone()).is_some() {
            return Ok(());
        }
        let n = r.end - r.start;
        if self.arena.len() as u64 + n as u64 > self.budget {
            return Err(FormatError::TooLarge(format!(
                "its headers claim more than {} bytes of metadata",
                self.budget
            )));
        }
        let at = self.arena.len();
        self.arena.resize(at + n, 0);
        let src = match &self.src {
            Src::Slice(s) => s as &dyn Source,
            Src::Far(f) => f,
        };
        src.read_at(r.start as u64, &mut self.arena[at..])
            .map_err(|e| {
                FormatError::malformed(format!("read failed at offset {}: {e}", r.start))
            })?;
        let keep = self.index.get(&r.start).is_some_and(|old| old.len() >= n);
        if !keep {
            self.index.insert(r.start, at..at + n);
        }
        if self.largest.as_ref().is_none_or(|(_, a)| a.len() < n) {
            self.largest = Some((r.start, at..at + n));
        }
        Ok(())
    }

    /// The bytes of `r`, when they lie inside the input and are loaded.
    pub(super) fn get(&self, r: Range<usize>) -> Option<&[u8]> {
        if let Some(w) = self.whole {
            return w.get(r);
        }
        if r.start > r.end || r.end > self.len {
            return None;
        }
        let within = |start: usize, a: &Range<usize>| {
            (start <= r.start && r.end <= start + a.len())
                .then(|| &self.arena[a.start + r.start - start..a.start + r.end - start])
        };
        if let Some(hit) = self.largest.as_ref().and_then(|(s, a)| within(*s, a)) {
            return Some(hit);
        }
        self.index
            .range(..=r.start)
            .rev()
            .take(LOOK_BACK)
            .find(|&(&start, a)| r.end <= start + a.len())
            .map(|(&start, a)| &self.arena[a.start + r.start - start..a.start + r.end - start])
    }

    /// The bytes of `r`, which the reader has checked and loaded.
    ///
    /// # Panics
    /// When `r` was not loaded: a bug in the reader (the dispatcher's panic
    /// guard leaves the file untouched).
    pub(super) fn at(&self, r: Range<usize>) -> &[u8] {
        self.get(r.clone())
            .unwrap_or_else(|| panic!("zip: bytes {r:?} read before they were loaded"))
    }

    /// `len` bytes at `pos`, loaded first; they must end by `limit`, else
    /// the error is "truncated `what`".
    pub(super) fn take(
        &mut self,
        pos: usize,
        len: usize,
        limit: usize,
        what: &str,
    ) -> Result<&[u8], FormatError> {
        let truncated = || FormatError::malformed(format!("truncated {what} at offset {pos}"));
        let end = pos
            .checked_add(len)
            .filter(|&e| e <= limit)
            .ok_or_else(truncated)?;
        self.load(pos..end)?;
        self.get(pos..end).ok_or_else(truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that is not in memory, so that loading really happens.
    struct Far(Vec<u8>);

    impl Source for Far {
        fn len(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
            self.0.as_slice().read_at(offset, buf)
        }
    }

    #[test]
    fn loaded_ranges_read_back_and_others_do_not() {
        let far = Far((0..=255).collect());
        let mut b = Bytes::new(&far, 1 << 20).unwrap();
        assert_eq!(b.get(10..12), None, "nothing loaded yet");
        b.load(10..40).unwrap();
        b.load(20..30).unwrap();
        b.load(250..300).unwrap();
        assert_eq!(b.at(10..12), &[10, 11]);
        assert_eq!(b.at(25..40), &(25..40).collect::<Vec<u8>>()[..]);
        assert_eq!(b.at(250..256), &[250, 251, 252, 253, 254, 255]);
        assert_eq!(b.get(39..41), None, "past the loaded chunk");
        assert_eq!(b.get(250..257), None, "past the input");
        assert!(b.take(0, 4, 3, "x").is_err(), "past the limit");
        assert_eq!(b.take(100, 2, 256, "x").unwrap(), &[100, 101]);
    }

    #[test]
    fn loading_past_the_budget_is_refused() {
        let far = Far(vec![0; 100]);
        let mut b = Bytes::new(&far, 50).unwrap();
        b.load(0..40).unwrap();
        assert!(matches!(b.load(40..60), Err(FormatError::TooLarge(_))));
    }
}
