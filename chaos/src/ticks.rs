//! Joins the per-router samples of one tick into one sample of the whole
//! pair. Pure: fed samples in any order, it yields complete ticks in order.

use std::collections::BTreeMap;

/// A tick with every router's answer: when it was read (the earliest of the
/// routers' read times) and `presence[router][vip]`.
pub type JoinedTick = (f64, Vec<Vec<bool>>);

/// A tick still waiting for answers: the earliest read time and each router's answer.
type PendingTick = (f64, Vec<Option<Vec<bool>>>);

/// Collects per-router answers until a tick is complete.
#[derive(Debug)]
pub struct TickJoiner {
    routers: usize,
    pending: BTreeMap<u64, PendingTick>,
    last_emitted: Option<u64>,
    /// Ticks dropped because a router skipped them (its thread fell behind).
    pub incomplete: u64,
}

impl TickJoiner {
    /// A joiner for `routers` routers.
    pub fn new(routers: usize) -> TickJoiner {
        TickJoiner {
            routers,
            pending: BTreeMap::new(),
            last_emitted: None,
            incomplete: 0,
        }
    }

    /// Adds router `router`'s answer for `tick`; returns the ticks this completed,
    /// oldest first. Older ticks still incomplete then can never complete in
    /// order and are dropped (counted in `incomplete`).
    pub fn push(
        &mut self,
        router: usize,
        tick: u64,
        at_ms: f64,
        present: Vec<bool>,
    ) -> Vec<JoinedTick> {
        if router >= self.routers || self.last_emitted.is_some_and(|l| tick <= l) {
            return Vec::new();
        }
        let entry = self
            .pending
            .entry(tick)
            .or_insert_with(|| (at_ms, vec![None; self.routers]));
        entry.0 = entry.0.min(at_ms);
        entry.1[router] = Some(present);

        let mut out = Vec::new();
        while let Some(t) = self
            .pending
            .iter()
            .find(|(_, (_, a))| a.iter().all(Option::is_some))
            .map(|(k, _)| *k)
        {
            // Everything before a complete tick is given up on.
            let older: Vec<u64> = self.pending.range(..t).map(|(k, _)| *k).collect();
            self.incomplete += older.len() as u64;
            for k in older {
                self.pending.remove(&k);
            }
            if let Some((at, answers)) = self.pending.remove(&t) {
                out.push((at, answers.into_iter().flatten().collect()));
            }
            self.last_emitted = Some(t);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_completes_when_every_router_answered() {
        let mut j = TickJoiner::new(2);
        assert!(j.push(0, 0, 5.0, vec![true]).is_empty());
        let done = j.push(1, 0, 4.0, vec![false]);
        assert_eq!(done, vec![(4.0, vec![vec![true], vec![false]])]);
    }

    #[test]
    fn a_skipped_tick_is_dropped_and_counted_and_late_answers_ignored() {
        let mut j = TickJoiner::new(2);
        j.push(0, 0, 0.0, vec![true]);
        j.push(0, 1, 10.0, vec![true]);
        j.push(1, 1, 10.0, vec![false]); // router 1 skipped tick 0
        assert_eq!(j.incomplete, 1);
        assert!(j.push(1, 0, 0.0, vec![false]).is_empty());
        let done = j.push(1, 2, 20.0, vec![true]);
        assert!(done.is_empty());
        assert_eq!(j.push(0, 2, 21.0, vec![true]).len(), 1);
    }
}
