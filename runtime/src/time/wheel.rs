//! A worker's timers: a hierarchical timing wheel.
//!
//! Most timers are cancelled, not fired: a socket wait under a deadline arms one, and the
//! data usually comes first. So adding and cancelling cost O(1) whatever the number
//! pending: an entry of a slab, linked into the list of one slot. (The `BTreeMap` this
//! replaced walked its tree and often allocated or freed a node on each.)
//!
//! Time counts in ticks of 1 ms from the wheel's creation. Level 0 has a slot per tick of
//! the current 64; each level above has 64 slots, each spanning a whole level below, and
//! 11 levels cover every `u64` tick. A timer sits at the lowest level whose slot sets its
//! tick apart from the current one. When the wheel reaches a slot of an upper level, that
//! slot's timers move down (a cascade), each timer at most once per level; when it
//! reaches a level-0 slot, that slot's timers are due. A deadline rounds up to a whole
//! tick, so a timer never fires early, and late by at most a tick.

use std::time::{Duration, Instant};

const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// Enough levels for any `u64` tick (the top one uses 4 of its 6 bits).
const LEVELS: usize = (u64::BITS as usize).div_ceil(SLOT_BITS as usize);
const NIL: u32 = u32::MAX;
/// Give the slab's memory back once no timer is left, past this many entries.
const SHRINK_ABOVE: usize = 4096;

/// Identifies an armed timer, to cancel it. Never reused: cancelling a timer that has
/// already fired (or was cancelled) does nothing, even when its entry holds a newer one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    index: u32,
    sequence: u64,
}

struct Entry<T> {
    /// Due at the start of this tick.
    tick: u64,
    /// `TimerKey::sequence` of the timer in this entry.
    sequence: u64,
    /// `None` while the entry is free.
    value: Option<T>,
    /// The slot list it is in: `level * SLOTS + slot`.
    list: u16,
    prev: u32,
    /// The next in its slot, or (while free) the next free entry.
    next: u32,
}

/// Pending timers, each holding a `T` until it fires or is cancelled.
pub(crate) struct Wheel<T> {
    /// Tick 0.
    origin: Instant,
    /// The current tick: every timer of an earlier tick has been handed out, and the
    /// current level-0 slot holds the timers due now.
    elapsed: u64,
    /// The first entry of each slot's list.
    heads: Box<[u32]>,
    /// Per level, a bit per slot whose list is not empty.
    occupied: [u64; LEVELS],
    entries: Vec<Entry<T>>,
    free: u32,
    len: usize,
    sequence: u64,
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Wheel::new(Instant::now())
    }
}

impl<T> Wheel<T> {
    pub(crate) fn new(origin: Instant) -> Self {
        Wheel {
            origin,
            elapsed: 0,
            heads: vec![NIL; LEVELS * SLOTS].into_boxed_slice(),
            occupied: [0; LEVELS],
            entries: Vec::new(),
            free: NIL,
            len: 0,
            sequence: 0,
        }
    }

    /// Arms a timer that hands `value` out at `deadline` (rounded up to a tick); `None`
    /// (and no timer) if the deadline's tick has already come by the wheel's clock, which
    /// stands at the last [`pop_due`](Self::pop_due): callers learn that a deadline has
    /// passed without reading the clock themselves.
    pub(crate) fn add(&mut self, deadline: Instant, value: T) -> Option<TimerKey> {
        let tick = self.tick_at_or_after(deadline);
        if tick <= self.elapsed {
            return None;
        }
        self.sequence += 1;
        let sequence = self.sequence;
        let entry = Entry {
            tick,
            sequence,
            value: Some(value),
            list: 0,
            prev: NIL,
            next: NIL,
        };
        let index = if self.free == NIL {
            let index = u32::try_from(self.entries.len()).expect("fewer than 2^32 timers");
            self.entries.push(entry);
            index
        } else {
            let index = self.free;
            let slot = &mut self.entries[index as usize];
            self.free = slot.next;
            *slot = entry;
            index
        };
        self.len += 1;
        self.place(index);
        Some(TimerKey { index, sequence })
    }

    /// Disarms the timer if it is still pending, dropping its value; `false` if it had
    /// already fired (or been cancelled).
    pub(crate) fn cancel(&mut self, key: TimerKey) -> bool {
        let live = self
            .entries
            .get(key.index as usize)
            .is_some_and(|e| e.sequence == key.sequence && e.value.is_some());
        if live {
            self.unlink(key.index);
            drop(self.release(key.index));
        }
        live
    }

    /// When the wheel next has timers to hand out: the earliest deadline's tick, or
    /// earlier (the start of an upper-level slot whose timers must move down first).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.len == 0 {
            return None;
        }
        let tick = if self.heads[self.current_slot()] != NIL {
            self.elapsed
        } else {
            self.next_expiration()?.2
        };
        self.origin.checked_add(Duration::from_millis(tick))
    }

    /// Removes and returns the value of a timer due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<T> {
        let now_tick = self.tick_at(now);
        loop {
            if self.len == 0 {
                self.elapsed = self.elapsed.max(now_tick);
                return None;
            }
            let head = self.heads[self.current_slot()];
            if head != NIL {
                self.unlink(head);
                return self.release(head);
            }
            match self.next_expiration() {
                Some((level, slot, start)) if start <= now_tick => {
                    self.elapsed = start;
                    if level > 0 {
                        self.cascade(level, slot);
                    }
                }
                _ => {
                    // Every slot left starts after `now_tick`: none is passed over.
                    self.elapsed = self.elapsed.max(now_tick);
                    return None;
                }
            }
        }
    }

    /// Drops every pending timer's value.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.heads.fill(NIL);
        self.occupied = [0; LEVELS];
        self.free = NIL;
        self.len = 0;
    }

    fn tick_at_or_after(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.origin);
        (d.as_secs().saturating_mul(1000))
            .saturating_add(u64::from(d.subsec_nanos()).div_ceil(1_000_000))
    }

    fn tick_at(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.origin);
        (d.as_secs().saturating_mul(1000)).saturating_add(u64::from(d.subsec_millis()))
    }

    fn current_slot(&self) -> usize {
        (self.elapsed % SLOTS as u64) as usize
    }

    /// Links an entry into its slot: the current one if its tick has come, else the
    /// lowest level whose slot differs from the current tick's.
    fn place(&mut self, index: u32) {
        let tick = self.entries[index as usize].tick;
        let list = if tick <= self.elapsed {
            self.current_slot()
        } else {
            let masked = (self.elapsed ^ tick) | (SLOTS as u64 - 1);
            let level = ((u64::BITS - 1 - masked.leading_zeros()) / SLOT_BITS) as usize;
            level * SLOTS + ((tick >> (level as u32 * SLOT_BITS)) % SLOTS as u64) as usize
        };
        let head = self.heads[list];
        let entry = &mut self.entries[index as usize];
        entry.list = list as u16;
        entry.prev = NIL;
        entry.next = head;
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
        self.heads[list] = index;
        self.occupied[list / SLOTS] |= 1 << (list % SLOTS);
    }

    fn unlink(&mut self, index: u32) {
        let Entry {
            list, prev, next, ..
        } = self.entries[index as usize];
        let list = usize::from(list);
        if prev == NIL {
            self.heads[list] = next;
            if next == NIL {
                self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }

    /// Frees an unlinked entry and returns its value.
    fn release(&mut self, index: u32) -> Option<T> {
        let entry = &mut self.entries[index as usize];
        let value = entry.value.take();
        entry.next = self.free;
        self.free = index;
        self.len -= 1;
        if self.len == 0 && self.entries.len() > SHRINK_ABOVE {
            // Keys stay unique: `sequence` keeps counting.
            self.entries = Vec::new();
            self.free = NIL;
        }
        value
    }

    /// The first occupied slot ahead of the current tick: `(level, slot, first tick)`.
    /// Lower levels come first: a level's timers all fall before the next slot of the
    /// level above.
    fn next_expiration(&self) -> Option<(usize, usize, u64)> {
        (0..LEVELS).find_map(|level| {
            let shift = level as u32 * SLOT_BITS;
            let position = (self.elapsed >> shift) % SLOTS as u64;
            // Slots after the current one (at level 0 the current one holds what is due).
            let ahead = self.occupied[level] & (u64::MAX << position << 1);
            if ahead == 0 {
                return None;
            }
            let slot = u64::from(ahead.trailing_zeros());
            let span_above = shift + SLOT_BITS;
            let base = if span_above >= u64::BITS {
                0
            } else {
                self.elapsed >> span_above << span_above
            };
            Some((level, slot as usize, base + (slot << shift)))
        })
    }

    /// Moves an upper-level slot's timers down, now that the wheel has reached it.
    fn cascade(&mut self, level: usize, slot: usize) {
        let list = level * SLOTS + slot;
        let mut index = self.heads[list];
        self.heads[list] = NIL;
        self.occupied[level] &= !(1 << slot);
        while index != NIL {
            let next = self.entries[index as usize].next;
            self.place(index);
            index = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const MS: Duration = Duration::from_millis(1);

    /// A deterministic xorshift, for reproducible mixes.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn drain(wheel: &mut Wheel<u64>, now: Instant) -> Vec<u64> {
        let mut fired: Vec<u64> = std::iter::from_fn(|| wheel.pop_due(now)).collect();
        fired.sort_unstable();
        fired
    }

    #[test]
    fn a_timer_fires_at_its_tick_never_before() {
        let origin = Instant::now();
        let mut wheel = Wheel::new(origin);
        let deadline = origin + 5 * MS + Duration::from_micros(300);
        wheel.add(deadline, 1).expect("a deadline ahead");
        assert_eq!(wheel.next_deadline(), Some(origin + 6 * MS));
        assert_eq!(wheel.pop_due(deadline - Duration::from_micros(1)), None);
        assert_eq!(
            wheel.pop_due(origin + 6 * MS - Duration::from_nanos(1)),
            None
        );
        assert_eq!(wheel.pop_due(origin + 6 * MS), Some(1));
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn a_deadline_the_wheel_has_reached_arms_nothing() {
        let origin = Instant::now();
        let mut wheel = Wheel::new(origin);
        assert_eq!(
            wheel.pop_due(origin + 100 * MS + Duration::from_micros(500)),
            None
        );
        assert_eq!(wheel.add(origin + 40 * MS, 1), None);
        assert_eq!(wheel.add(origin + 100 * MS, 2), None);
        let key = wheel.add(origin + 100 * MS + Duration::from_nanos(1), 3);
        assert!(key.is_some(), "the next tick is ahead");
        assert_eq!(wheel.next_deadline(), Some(origin + 101 * MS));
        assert_eq!(wheel.pop_due(origin + 101 * MS), Some(3));
    }

    #[test]
    fn far_deadlines_cascade_down_and_fire_on_time() {
        let origin = Instant::now();
        let mut wheel = Wheel::new(origin);
        let far = [
            64 * MS,
            Duration::from_secs(5),
            Duration::from_secs(3600),
            Duration::from_secs(86_400 * 400),
        ];
        for (i, d) in far.iter().enumerate() {
            wheel.add(origin + *d, i as u64).expect("a deadline ahead");
        }
        for (i, d) in far.iter().enumerate() {
            // Waking at each `next_deadline` until the timer is due never fires it early.
            let mut wakes = 0;
            loop {
                let at = wheel.next_deadline().expect("timers pending");
                assert!(at <= origin + *d, "woke past timer {i}'s deadline");
                if let Some(v) = wheel.pop_due(at) {
                    assert_eq!((v, at), (i as u64, origin + *d));
                    break;
                }
                wakes += 1;
                assert!(wakes <= LEVELS, "timer {i}: {wakes} wakes before firing");
            }
        }
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn cancelling_a_fired_or_cancelled_timer_leaves_a_newer_one_in_its_entry() {
        let origin = Instant::now();
        let mut wheel = Wheel::new(origin);
        let old = wheel.add(origin + MS, 1).expect("a deadline ahead");
        assert_eq!(wheel.pop_due(origin + MS), Some(1));
        let new = wheel.add(origin + 2 * MS, 2).expect("a deadline ahead");
        assert_eq!(new.index, old.index, "the freed entry is reused");
        assert!(!wheel.cancel(old), "it fired");
        assert!(!wheel.cancel(old));
        assert_eq!(wheel.pop_due(origin + 2 * MS), Some(2));
        let third = wheel.add(origin + 3 * MS, 3).expect("a deadline ahead");
        assert!(wheel.cancel(third), "it was pending");
        assert!(!wheel.cancel(third));
        assert_eq!(wheel.pop_due(origin + 3 * MS), None);
    }

    #[test]
    fn the_slab_shrinks_once_empty_and_keys_stay_unique() {
        let origin = Instant::now();
        let mut wheel = Wheel::new(origin);
        let keys: Vec<_> = (0..10_000)
            .map(|i| wheel.add(origin + (1 + i % 700) * MS, u64::from(i)))
            .collect::<Option<Vec<_>>>()
            .expect("deadlines ahead");
        let stale = keys[0];
        for key in keys {
            assert!(wheel.cancel(key));
        }
        assert_eq!(wheel.entries.capacity(), 0);
        let fresh = wheel.add(origin + MS, 1).expect("a deadline ahead");
        assert_eq!(fresh.index, stale.index);
        wheel.cancel(stale);
        assert_eq!(wheel.pop_due(origin + MS), Some(1));
    }

    /// Random adds, cancels and clock advances against a `BTreeMap` of exact deadlines:
    /// the wheel hands out exactly the live timers whose deadline has passed, by the
    /// first tick at or after it, and `next_deadline` never sleeps past one.
    #[test]
    fn matches_a_sorted_map_under_random_use() {
        let origin = Instant::now();
        let mut wheel = Wheel::new(origin);
        let mut model: BTreeMap<(Instant, u64), TimerKey> = BTreeMap::new();
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut now = origin;
        let mut value = 0;
        for _ in 0..100_000 {
            match rng.next() % 8 {
                0..=3 => {
                    // Mostly near, some far (up to 3.5 days), a few already passed.
                    let span_ms = [50, 5_000, 300_000_000][(rng.next() % 3) as usize];
                    let offset = Duration::from_micros(rng.next() % (span_ms * 1000));
                    let deadline = if rng.next().is_multiple_of(16) {
                        now.checked_sub(offset).unwrap_or(origin).max(origin)
                    } else {
                        now + offset
                    };
                    value += 1;
                    match wheel.add(deadline, value) {
                        Some(key) => drop(model.insert((deadline, value), key)),
                        None => assert!(deadline <= now, "refused a deadline ahead"),
                    }
                }
                4 | 5 => {
                    // Cancel one of the earliest, the likeliest to sit in a low slot.
                    let nth = (rng.next() % 64) as usize;
                    if let Some((&k, &key)) = model.iter().nth(nth) {
                        model.remove(&k);
                        assert!(wheel.cancel(key), "a pending timer was gone");
                    }
                }
                _ => {
                    let step_us = [100, 3_000, 70_000_000][(rng.next() % 3) as usize];
                    let target = now + Duration::from_micros(rng.next() % step_us);
                    // Wake as a worker does: at `next_deadline` if it comes first.
                    now = match wheel.next_deadline() {
                        Some(at) if at < target => at.max(now),
                        _ => target,
                    };
                    let fired = drain(&mut wheel, now);
                    // Due: a deadline at or before the start of the current tick.
                    let cutoff = origin + Duration::from_millis(wheel.tick_at(now));
                    let mut expected = Vec::new();
                    while let Some(entry) = model.first_entry() {
                        if entry.key().0 > cutoff {
                            break;
                        }
                        expected.push(entry.remove_entry().0.1);
                    }
                    expected.sort_unstable();
                    assert_eq!(fired, expected);
                    if let Some((&(first, _), _)) = model.first_key_value() {
                        let at = wheel.next_deadline().expect("timers pending");
                        assert!(at <= first + MS, "would sleep past a deadline");
                    }
                    assert_eq!(wheel.len, model.len());
                }
            }
        }
    }
}
