//! One queue for every deadline the endpoint keeps: a binary heap of
//! `(deadline, sequence, key)` with lazy invalidation.
//!
//! Each owner (a transaction, a call, a registration, the registrar) has at
//! most one armed deadline, recorded in `armed` with the sequence number of
//! its heap entry. Re-arming pushes a new entry and leaves the old one in the
//! heap; an entry whose sequence number is not the armed one is stale and is
//! dropped when it reaches the top. The top of the heap is never stale (every
//! mutation purges stale tops), so [`TimerQueue::next`] is O(1) on `&self`;
//! arming, disarming and popping are O(log n). When stale entries outnumber
//! live ones the heap is rebuilt, which keeps memory within a constant factor
//! of the live timers at amortised O(1) per operation.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::Instant;

#[derive(Debug)]
struct Entry<K> {
    at: Instant,
    seq: u64,
    key: K,
}

impl<K> PartialEq for Entry<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<K> Eq for Entry<K> {}
impl<K> PartialOrd for Entry<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Entry<K> {
    /// Earliest deadline first; on a tie, the one armed first.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Below this many heap entries stale ones are left for the top to purge.
const COMPACT_MIN: usize = 1024;

/// Deadlines keyed by owner; see the module docs.
#[derive(Debug)]
pub(crate) struct TimerQueue<K> {
    heap: BinaryHeap<Reverse<Entry<K>>>,
    armed: HashMap<K, (Instant, u64)>,
    seq: u64,
}

impl<K: Hash + Eq + Clone> TimerQueue<K> {
    pub(crate) fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            armed: HashMap::new(),
            seq: 0,
        }
    }

    /// Arms `key` at `at`, replacing its previous deadline; `None` disarms it.
    /// Setting the deadline it already has is free (no heap entry).
    pub(crate) fn set(&mut self, key: &K, at: Option<Instant>) {
        match at {
            None => {
                if self.armed.remove(key).is_some() {
                    self.purge_top();
                    self.compact_if_sparse();
                }
            }
            Some(at) => {
                if self.armed.get(key).is_some_and(|(cur, _)| *cur == at) {
                    return;
                }
                let seq = self.seq;
                self.seq += 1;
                self.armed.insert(key.clone(), (at, seq));
                self.heap.push(Reverse(Entry {
                    at,
                    seq,
                    key: key.clone(),
                }));
                self.purge_top();
                self.compact_if_sparse();
            }
        }
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// A mark for [`TimerQueue::pop_due`]: deadlines armed after it are not
    /// popped by calls that pass it.
    pub(crate) fn mark(&self) -> u64 {
        self.seq
    }

    /// Disarms and returns the owner with the earliest deadline at or before
    /// `now` that was armed before `mark`; `None` when there is none. Owners
    /// re-armed after the mark wait for the next pass, so a pass ends even if
    /// firing a timer arms another one that is already due.
    pub(crate) fn pop_due(&mut self, now: Instant, mark: u64) -> Option<K> {
        let Reverse(top) = self.heap.peek()?;
        if top.at > now || top.seq >= mark {
            return None;
        }
        let Reverse(top) = self.heap.pop()?;
        self.armed.remove(&top.key);
        self.purge_top();
        Some(top.key)
    }

    /// The armed deadline of `key`.
    #[cfg(test)]
    pub(crate) fn deadline(&self, key: &K) -> Option<Instant> {
        self.armed.get(key).map(|(at, _)| *at)
    }

    /// Number of armed owners.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.armed.len()
    }

    /// Heap entries, stale ones included.
    #[cfg(test)]
    fn heap_len(&self) -> usize {
        self.heap.len()
    }

    fn is_live(armed: &HashMap<K, (Instant, u64)>, e: &Entry<K>) -> bool {
        armed.get(&e.key).is_some_and(|(_, seq)| *seq == e.seq)
    }

    fn purge_top(&mut self) {
        while let Some(Reverse(top)) = self.heap.peek() {
            if Self::is_live(&self.armed, top) {
                break;
            }
            self.heap.pop();
        }
    }

    fn compact_if_sparse(&mut self) {
        if self.heap.len() > COMPACT_MIN && self.heap.len() > 2 * self.armed.len() {
            let armed = &self.armed;
            self.heap.retain(|Reverse(e)| Self::is_live(armed, e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    /// Pops everything due at `now` in one pass.
    fn fire(q: &mut TimerQueue<u32>, now: Instant) -> Vec<u32> {
        let mark = q.mark();
        std::iter::from_fn(|| q.pop_due(now, mark)).collect()
    }

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        // 1000 owners with deadlines scattered over 0..997 ms (7 is coprime to 997).
        for k in 0..1000u32 {
            q.set(&k, Some(ms(t0, u64::from(k * 7 % 997))));
        }
        assert_eq!(q.next(), Some(t0));
        let mut fired = Vec::new();
        for step in 0..997 {
            let now = ms(t0, step);
            for k in fire(&mut q, now) {
                assert_eq!(u64::from(k * 7 % 997), step, "owner {k} fired at {step} ms");
                fired.push(k);
            }
            assert!(
                q.next().is_none_or(|n| n > now),
                "nothing due is left behind"
            );
        }
        fired.sort_unstable();
        assert_eq!(fired, (0..1000).collect::<Vec<_>>());
        assert_eq!(q.next(), None);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn rearming_moves_the_deadline_both_ways() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        q.set(&1, Some(ms(t0, 500)));
        q.set(&2, Some(ms(t0, 300)));
        q.set(&1, Some(ms(t0, 100))); // earlier
        assert_eq!(q.next(), Some(ms(t0, 100)));
        q.set(&2, Some(ms(t0, 900))); // later
        assert_eq!(fire(&mut q, ms(t0, 299)), vec![1]);
        assert_eq!(
            fire(&mut q, ms(t0, 500)),
            Vec::<u32>::new(),
            "old deadlines are stale"
        );
        assert_eq!(q.next(), Some(ms(t0, 900)));
        assert_eq!(fire(&mut q, ms(t0, 900)), vec![2]);
        assert_eq!(q.next(), None);
    }

    #[test]
    fn disarmed_owners_never_fire() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        for k in 0..10u32 {
            q.set(&k, Some(ms(t0, u64::from(k))));
        }
        for k in (0..10u32).step_by(2) {
            q.set(&k, None);
        }
        assert_eq!(
            q.next(),
            Some(ms(t0, 1)),
            "the top is never a disarmed owner"
        );
        assert_eq!(fire(&mut q, ms(t0, 100)), vec![1, 3, 5, 7, 9]);
    }

    #[test]
    fn ties_fire_in_arming_order_and_same_deadline_is_not_rearmed() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        for k in [5u32, 3, 9] {
            q.set(&k, Some(ms(t0, 10)));
        }
        q.set(&5, Some(ms(t0, 10))); // unchanged: keeps its place
        assert_eq!(q.heap_len(), 3);
        assert_eq!(fire(&mut q, ms(t0, 10)), vec![5, 3, 9]);
    }

    #[test]
    fn owners_armed_during_a_pass_wait_for_the_next() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        q.set(&1, Some(t0));
        q.set(&2, Some(t0));
        let mark = q.mark();
        assert_eq!(q.pop_due(t0, mark), Some(1));
        q.set(&1, Some(t0)); // firing 1 re-armed it at once
        assert_eq!(q.pop_due(t0, mark), Some(2));
        assert_eq!(q.pop_due(t0, mark), None);
        assert_eq!(q.next(), Some(t0));
        assert_eq!(fire(&mut q, t0), vec![1]);
    }

    #[test]
    fn stale_entries_are_compacted() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        for round in 0..50u64 {
            for k in 0..100u32 {
                q.set(&k, Some(ms(t0, 10_000 - round)));
            }
        }
        assert_eq!(q.len(), 100);
        assert!(q.heap_len() <= 2 * COMPACT_MIN, "heap {}", q.heap_len());
        let mut all = fire(&mut q, ms(t0, 10_000));
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(q.heap_len(), 0);
    }
}
