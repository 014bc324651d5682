//! How far the normalizing pass has got, for a NAR hasher that runs beside
//! it and reads each entry only once the pass has left it for good.
//!
//! The pass walks the roots in NAR order (sorted by raw name bytes, parents
//! before children) and numbers every entry it pulls from the walk: a root's
//! own entry has index 0 and its descendants follow in walk order. It hands
//! the entries to its workers in numbered batches, and a batch is *done* when
//! a worker has finished every entry of it. Entries before the first batch
//! not done are final: the pass will not touch them again, but for the
//! entries it *defers* ([`Progress::defer`]), which it finishes only at its
//! end: a file with several hardlinks (each inode is handled once, after the
//! walk) and a `.cargo-checksum.json` (finished after every file it lists).
//! The hasher waits for the whole pass before reading those.
//!
//! The hasher walks the same tree in the same order and counts its entries
//! the same way, so the entry it is about to read has the index the pass
//! gave it. If the tree changed meanwhile the counts can part, and the
//! hasher may read a file the pass has not yet left; the fingerprints it
//! records then differ from the pass's, and the self-check names the file
//! (it was changed on disk during the run, which is what that check is for).
//!
//! Nothing here ever waits for the hasher: the pass only reports. A pass
//! that ends, or unwinds, marks itself over ([`Progress::finish`], or the
//! guard of [`Progress::finish_on_drop`]), which releases every wait.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The pass's progress, shared with a hasher.
#[derive(Debug, Default)]
pub struct Progress {
    /// Entries pulled from the walk so far (the next entry's position).
    pulled: AtomicU64,
    state: Mutex<State>,
    moved: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The position of each root's own entry, as the walk reaches it.
    starts: Vec<u64>,
    /// End position (exclusive) of each batch made and not yet counted in
    /// `final_below`, and whether it is done.
    batches: BTreeMap<u64, (u64, bool)>,
    /// Entries at positions below this one are final, but the deferred ones.
    final_below: u64,
    /// Positions of the entries finished only at the end of the pass.
    deferred: HashSet<u64>,
    /// The pass is over: everything is final.
    over: bool,
}

/// Marks the pass over when dropped (also when the pass unwinds).
#[derive(Debug)]
pub struct Finish<'a>(&'a Progress);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

impl Progress {
    /// Progress of a pass that has not started.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry at `position` is finished only at the end of the pass.
    /// Told before its batch is done.
    pub fn defer(&self, position: u64) {
        self.state().deferred.insert(position);
    }

    /// How many entries are final (the entries below this position).
    #[must_use]
    pub fn final_below(&self) -> u64 {
        self.state().final_below
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The walk is at root `root`'s own entry: it gets the next position.
    pub fn root_starts(&self, root: usize) {
        let at = self.pulled.load(Ordering::Relaxed);
        let mut s = self.state();
        if s.starts.len() <= root {
            s.starts.resize(root + 1, u64::MAX);
        }
        s.starts[root] = at;
    }

    /// One more entry was pulled from the walk.
    pub fn pulled_one(&self) {
        self.pulled.fetch_add(1, Ordering::Relaxed);
    }

    /// The position the next entry pulled will have.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.pulled.load(Ordering::Relaxed)
    }

    /// Batch `seq` (batches are numbered from 0 in walk order) holds the
    /// entries up to position `end` (exclusive).
    pub fn batch_made(&self, seq: u64, end: u64) {
        self.state().batches.insert(seq, (end, false));
    }

    /// Every entry of batch `seq` is finished.
    pub fn batch_done(&self, seq: u64) {
        let mut s = self.state();
        if let Some(b) = s.batches.get_mut(&seq) {
            b.1 = true;
        }
        let mut moved = false;
        while let Some(entry) = s.batches.first_entry() {
            let (end, done) = *entry.get();
            if !done {
                break;
            }
            entry.remove();
            s.final_below = end;
            moved = true;
        }
        if moved {
            drop(s);
            self.moved.notify_all();
        }
    }

    /// The pass is over: every entry is final.
    pub fn finish(&self) {
        self.state().over = true;
        self.moved.notify_all();
    }

    /// A guard that calls [`Self::finish`] when dropped.
    #[must_use]
    pub fn finish_on_drop(&self) -> Finish<'_> {
        Finish(self)
    }

    /// Whether the pass is over.
    #[must_use]
    pub fn is_over(&self) -> bool {
        self.state().over
    }

    /// Waits until entry `index` of root `root` is final.
    pub fn wait_for(&self, root: usize, index: u64) {
        let s = self.state();
        let _s = self
            .moved
            .wait_while(s, |s| {
                !s.over
                    && s.starts.get(root).is_none_or(|&start| {
                        let at = start.saturating_add(index);
                        s.final_below <= at || s.deferred.contains(&at)
                    })
            })
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Waits until more entries are final than `seen` (a value this returned
    /// before, or 0), or the pass is over. Returns how many are final now.
    pub fn wait_past(&self, seen: u64) -> u64 {
        let s = self.state();
        let s = self
            .moved
            .wait_while(s, |s| !s.over && s.final_below <= seen)
            .unwrap_or_else(PoisonError::into_inner);
        s.final_below
    }

    /// Waits until the pass is over.
    pub fn wait_over(&self) {
        let s = self.state();
        let _s = self
            .moved
            .wait_while(s, |s| !s.over)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pulls `n` entries of root `root`, the first one its own.
    fn pull(p: &Progress, root: usize, n: u64) {
        p.root_starts(root);
        for _ in 0..n {
            p.pulled_one();
        }
    }

    #[test]
    fn entries_are_final_once_every_batch_up_to_theirs_is_done() {
        let p = Progress::new();
        pull(&p, 0, 10);
        p.batch_made(0, 4);
        p.batch_made(1, 10);
        p.batch_done(1);
        // Batch 0 is not done: nothing is final yet.
        assert_eq!(p.state().final_below, 0);
        p.batch_done(0);
        assert_eq!(p.state().final_below, 10);
        p.wait_for(0, 9);
        assert!(!p.is_over());
    }

    #[test]
    fn a_deferred_entry_is_final_only_when_the_pass_is_over() {
        let p = Progress::new();
        pull(&p, 0, 3);
        p.defer(1);
        p.batch_made(0, 3);
        p.batch_done(0);
        p.wait_for(0, 2);
        let waited = std::thread::scope(|s| {
            let w = s.spawn(|| p.wait_for(0, 1));
            std::thread::sleep(std::time::Duration::from_millis(50));
            let still = !w.is_finished();
            p.finish();
            w.join().unwrap();
            still
        });
        assert!(waited, "a deferred entry was taken as final before the end");
    }

    #[test]
    fn a_root_is_counted_from_its_own_entry() {
        let p = Progress::new();
        pull(&p, 0, 3);
        pull(&p, 1, 2);
        p.batch_made(0, 4);
        p.batch_done(0);
        // Root 1 starts at 3: its entry 0 (position 3) is final, entry 1 not.
        p.wait_for(1, 0);
        let waiting = std::thread::scope(|s| {
            let w = s.spawn(|| p.wait_for(1, 1));
            std::thread::sleep(std::time::Duration::from_millis(50));
            let still = !w.is_finished();
            p.batch_made(1, 5);
            p.batch_done(1);
            w.join().unwrap();
            still
        });
        assert!(waiting, "entry 1 of root 1 was taken as final too early");
    }

    #[test]
    fn a_pass_that_unwinds_releases_every_wait() {
        let p = Progress::new();
        pull(&p, 0, 5);
        std::thread::scope(|s| {
            let w = s.spawn(|| {
                p.wait_for(0, 4);
                p.wait_for(7, 0);
                p.wait_over();
                p.wait_past(100)
            });
            let r = std::panic::catch_unwind(|| {
                let _finish = p.finish_on_drop();
                panic!("the pass fails");
            });
            assert!(r.is_err());
            assert_eq!(w.join().unwrap(), 0);
        });
        assert!(p.is_over());
    }
}
