//! The memory budget the workers share: before a worker normalizes a file it
//! reserves the file's estimated peak (`engine::estimated_peak`) and blocks
//! while that would take the reservations past the budget, so `-j32` on big
//! files cannot hold 32 of them in memory at once. A file whose estimate
//! alone exceeds the budget reserves all of it: it runs alone rather than
//! never. Reservations are granted first come, first served, so a big file
//! is not starved by a stream of small ones.
//!
//! Only scheduling depends on the budget, never a result: every file is
//! normalized exactly as it would be without it.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Used when `/proc/meminfo` cannot be read, and the least default.
pub const MIN_DEFAULT: u64 = 256 << 20;

/// The most the default takes, however much memory is free.
pub const MAX_DEFAULT: u64 = 8 << 30;

/// The default budget: a quarter of `MemAvailable` in `/proc/meminfo`, at
/// least 256 MiB and at most 8 GiB.
///
/// Why a quarter: on a Nix builder several builds run at once (`max-jobs`),
/// each strip-nd at the end of its own fixup with `-j$NIX_BUILD_CORES`;
/// what is available when one starts is shared with the others that start
/// soon after, and with the builds still compiling. The floor is the target
/// peak of a whole run (issue 12), so one file of every size still runs; the
/// cap keeps a large machine from giving one run tens of GiB when the
/// streaming handlers need far less.
pub fn default_bytes() -> u64 {
    from_meminfo(std::fs::read_to_string("/proc/meminfo").ok().as_deref())
}

/// [`default_bytes`] for a given `/proc/meminfo` text.
pub fn from_meminfo(meminfo: Option<&str>) -> u64 {
    let available = meminfo.and_then(|text| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix("MemAvailable:")?;
            let kib = rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
            Some(kib.saturating_mul(1024))
        })
    });
    available.map_or(MIN_DEFAULT, |a| (a / 4).clamp(MIN_DEFAULT, MAX_DEFAULT))
}

/// Parses a byte count for `--memory`: digits with an optional K, M, G or T
/// suffix (powers of 1024; `KiB`, `MB` and the like are read the same).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let help = "expected a number of bytes with an optional K, M, G or T suffix \
                (powers of 1024), e.g. 256M";
    let t = text.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (number, suffix) = t.split_at(digits);
    if number.is_empty() {
        return Err(help.into());
    }
    let unit = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1u64,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(help.into()),
    };
    let bytes = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("{text} is more bytes than a 64-bit count holds"))?;
    if bytes == 0 {
        return Err("the budget must be at least 1 byte".into());
    }
    Ok(bytes)
}

#[derive(Debug, Default)]
struct State {
    /// Bytes reserved now.
    used: u64,
    /// The ticket the next `reserve` call takes.
    next: u64,
    /// The ticket whose turn it is.
    serving: u64,
    /// Callers waiting in `reserve`: with none, nobody is woken (a wake-up
    /// is a system call, and a run takes a reservation per file).
    waiting: u64,
}

/// A byte budget shared by the workers of a run.
#[derive(Debug)]
pub struct Budget {
    total: u64,
    state: Mutex<State>,
    changed: Condvar,
}

/// Bytes held from a [`Budget`] until dropped.
#[derive(Debug)]
pub struct Reservation<'a> {
    budget: &'a Budget,
    bytes: u64,
}

impl Budget {
    /// A budget of `total` bytes (at least 1).
    pub fn new(total: u64) -> Self {
        Self {
            total: total.max(1),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    /// The whole budget.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> u64 {
        self.lock().used
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two counters updated together under the lock: a
        // panic elsewhere cannot leave them half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for its turn and for `bytes` (capped at the whole budget) to be
    /// free, then holds them until the reservation is dropped.
    pub fn reserve(&self, bytes: u64) -> Reservation<'_> {
        let want = bytes.min(self.total);
        let mut s = self.lock();
        let ticket = s.next;
        s.next += 1;
        while s.serving != ticket || s.used + want > self.total {
            s.waiting += 1;
            s = self.changed.wait(s).unwrap_or_else(PoisonError::into_inner);
            s.waiting -= 1;
        }
        s.used += want;
        s.serving += 1;
        let waiting = s.waiting > 0;
        drop(s);
        // The next ticket may fit too.
        if waiting {
            self.changed.notify_all();
        }
        Reservation {
            budget: self,
            bytes: want,
        }
    }
}

impl Reservation<'_> {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut s = self.budget.lock();
        s.used -= self.bytes;
        let waiting = s.waiting > 0;
        drop(s);
        if waiting {
            self.budget.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::Duration;

    #[test]
    fn concurrent_reservations_never_exceed_the_budget() {
        let budget = Budget::new(1000);
        // What the holders themselves count, apart from the budget's books.
        let held = AtomicU64::new(0);
        let most = AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 0..8u64 {
                let (budget, held, most) = (&budget, &held, &most);
                s.spawn(move || {
                    for i in 0..300u64 {
                        // Sizes from 1 to 1400: some alone exceed the budget.
                        let want = (t * 7919 + i * 104_729) % 1400 + 1;
                        let r = budget.reserve(want);
                        assert_eq!(r.bytes(), want.min(1000));
                        let now = held.fetch_add(r.bytes(), Ordering::SeqCst) + r.bytes();
                        most.fetch_max(now, Ordering::SeqCst);
                        assert!(now <= 1000, "{now} bytes held under a 1000-byte budget");
                        std::thread::yield_now();
                        held.fetch_sub(r.bytes(), Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(budget.in_use(), 0);
        // The budget did let several files run at once.
        let most = most.into_inner();
        assert!(most > 700, "at most {most} bytes were ever held together");
    }

    #[test]
    fn a_reservation_larger_than_the_budget_waits_then_runs_alone() {
        let budget = Budget::new(100);
        let small = budget.reserve(10);
        let granted = AtomicBool::new(false);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let big = budget.reserve(5_000);
                granted.store(true, Ordering::SeqCst);
                // It holds the whole budget: nothing else fits beside it.
                assert_eq!(big.bytes(), 100);
                assert_eq!(budget.in_use(), 100);
            });
            std::thread::sleep(Duration::from_millis(100));
            assert!(!granted.load(Ordering::SeqCst), "granted beside a holder");
            drop(small);
            waiter.join().unwrap();
        });
        assert!(granted.into_inner());
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn turns_are_first_come_first_served() {
        // A waiting big reservation is not overtaken by a later small one
        // that would fit: otherwise small files could starve a big one.
        let budget = Budget::new(100);
        let first = budget.reserve(60);
        let small_saw = Mutex::new(None);
        std::thread::scope(|s| {
            s.spawn(|| {
                let _big = budget.reserve(80);
                std::thread::sleep(Duration::from_millis(300));
            });
            std::thread::sleep(Duration::from_millis(100));
            s.spawn(|| {
                let _small = budget.reserve(10);
                *small_saw.lock().unwrap() = Some(budget.in_use());
            });
            std::thread::sleep(Duration::from_millis(100));
            // 60 + 10 would fit, but the big one came first.
            assert_eq!(*small_saw.lock().unwrap(), None);
            drop(first);
        });
        // The small one ran beside the big one, after it.
        assert_eq!(small_saw.into_inner().unwrap(), Some(90));
    }

    #[test]
    fn the_default_is_a_quarter_of_available_memory_within_bounds() {
        let info = |kib: u64| format!("MemTotal: 99 kB\nMemAvailable:   {kib} kB\n");
        assert_eq!(from_meminfo(Some(&info(8 << 20))), 2 << 30);
        assert_eq!(from_meminfo(Some(&info(100 << 10))), MIN_DEFAULT);
        assert_eq!(from_meminfo(Some(&info(1 << 30))), MAX_DEFAULT);
        assert_eq!(from_meminfo(Some("MemTotal: 5 kB\n")), MIN_DEFAULT);
        assert_eq!(from_meminfo(None), MIN_DEFAULT);
    }

    #[test]
    fn byte_counts_parse_with_suffixes_and_garbage_is_refused() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("64K"), Ok(64 << 10));
        assert_eq!(parse_bytes("256M"), Ok(256 << 20));
        assert_eq!(parse_bytes("256MiB"), Ok(256 << 20));
        assert_eq!(parse_bytes("2g"), Ok(2 << 30));
        assert_eq!(parse_bytes("1T"), Ok(1 << 40));
        for bad in ["", "M", "12X", "1.5G", "-1", "ten", "0", "99999999999T"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?} accepted");
        }
    }
}
