//! Who holds each VIP, sample by sample: owner counts, runs of samples with
//! two or more owners (split brain) and runs with none. Pure.

use serde::Serialize;

use crate::faults::Interval;

/// The routers holding one VIP in one sample (indices into the router list).
pub fn holders(presence: &[Vec<bool>], vip: usize) -> Vec<usize> {
    presence
        .iter()
        .enumerate()
        .filter(|(_, p)| p.get(vip).copied().unwrap_or(false))
        .map(|(r, _)| r)
        .collect()
}

/// Consecutive samples in which a VIP had more than one owner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitRun {
    /// First and last such sample.
    pub during: Interval,
    /// How many samples.
    pub samples: u64,
    /// The largest number of owners seen in one sample.
    pub max_owners: usize,
    /// Every router that held the VIP in one of them.
    pub routers: Vec<usize>,
}

/// What the samples showed about one VIP.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VipObservation {
    /// Samples with 0, 1 and 2+ owners.
    pub samples_by_owners: [u64; 3],
    /// Runs of split-brain samples.
    pub split_runs: Vec<SplitRun>,
    /// Runs without an owner: from the first sample with none to the next
    /// sample with one (or the last sample).
    pub ownerless: Vec<Interval>,
}

/// Follows owner counts over time, one sample at a time.
#[derive(Debug, Clone)]
pub struct OwnerTracker {
    vips: Vec<VipObservation>,
    split_open: Vec<Option<SplitRun>>,
    ownerless_since: Vec<Option<f64>>,
    last_ms: Option<f64>,
}

impl OwnerTracker {
    /// A tracker for `vips` VIPs.
    pub fn new(vips: usize) -> OwnerTracker {
        OwnerTracker {
            vips: vec![VipObservation::default(); vips],
            split_open: vec![None; vips],
            ownerless_since: vec![None; vips],
            last_ms: None,
        }
    }

    /// Feeds one sample taken at `at_ms`: `presence[router][vip]`.
    pub fn observe(&mut self, at_ms: f64, presence: &[Vec<bool>]) {
        for v in 0..self.vips.len() {
            let h = holders(presence, v);
            self.vips[v].samples_by_owners[h.len().min(2)] += 1;

            if h.len() > 1 {
                let run = self.split_open[v].get_or_insert_with(|| SplitRun {
                    during: Interval {
                        start_ms: at_ms,
                        end_ms: at_ms,
                    },
                    samples: 0,
                    max_owners: 0,
                    routers: Vec::new(),
                });
                run.during.end_ms = at_ms;
                run.samples += 1;
                run.max_owners = run.max_owners.max(h.len());
                for r in h.iter() {
                    if !run.routers.contains(r) {
                        run.routers.push(*r);
                    }
                }
            } else if let Some(run) = self.split_open[v].take() {
                self.vips[v].split_runs.push(run);
            }

            match (h.is_empty(), self.ownerless_since[v]) {
                (true, None) => self.ownerless_since[v] = Some(at_ms),
                (false, Some(since)) => {
                    self.vips[v].ownerless.push(Interval {
                        start_ms: since,
                        end_ms: at_ms,
                    });
                    self.ownerless_since[v] = None;
                }
                _ => {}
            }
        }
        self.last_ms = Some(at_ms);
    }

    /// Closes open runs at the last sample and returns one observation per VIP.
    pub fn finish(mut self) -> Vec<VipObservation> {
        for v in 0..self.vips.len() {
            if let Some(run) = self.split_open[v].take() {
                self.vips[v].split_runs.push(run);
            }
            if let (Some(since), Some(last)) = (self.ownerless_since[v], self.last_ms) {
                self.vips[v].ownerless.push(Interval {
                    start_ms: since,
                    end_ms: last,
                });
            }
        }
        self.vips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One VIP, routers r0 and r1: a sample from two booleans.
    fn s(r0: bool, r1: bool) -> Vec<Vec<bool>> {
        vec![vec![r0], vec![r1]]
    }

    #[test]
    fn holders_counts_each_router_holding_the_vip() {
        let p = vec![vec![true, false], vec![true, true], vec![false, false]];
        assert_eq!(holders(&p, 0), vec![0, 1]);
        assert_eq!(holders(&p, 1), vec![1]);
        assert_eq!(holders(&p, 2), Vec::<usize>::new());
    }

    #[test]
    fn a_clean_handover_has_no_split_and_one_ownerless_run() {
        let mut t = OwnerTracker::new(1);
        for (i, (a, b)) in [(true, false), (false, false), (false, false), (false, true)]
            .into_iter()
            .enumerate()
        {
            t.observe(i as f64 * 10.0, &s(a, b));
        }
        let o = &t.finish()[0];
        assert!(o.split_runs.is_empty());
        assert_eq!(o.samples_by_owners, [2, 2, 0]);
        assert_eq!(
            o.ownerless,
            vec![Interval {
                start_ms: 10.0,
                end_ms: 30.0
            }]
        );
    }

    #[test]
    fn consecutive_split_samples_are_one_run_and_a_single_one_counts() {
        let mut t = OwnerTracker::new(1);
        let seq = [
            (true, false),
            (true, true),
            (true, true),
            (false, true),
            (true, true),
        ];
        for (i, (a, b)) in seq.into_iter().enumerate() {
            t.observe(i as f64 * 10.0, &s(a, b));
        }
        let o = &t.finish()[0];
        assert_eq!(o.samples_by_owners[2], 3);
        assert_eq!(o.split_runs.len(), 2);
        assert_eq!(o.split_runs[0].samples, 2);
        assert_eq!(o.split_runs[0].during.end_ms, 20.0);
        assert_eq!(o.split_runs[1].samples, 1);
        assert_eq!(o.split_runs[1].routers, vec![0, 1]);
    }

    #[test]
    fn an_ownerless_run_open_at_the_end_closes_at_the_last_sample() {
        let mut t = OwnerTracker::new(2);
        t.observe(0.0, &[vec![true, false], vec![false, false]]);
        t.observe(10.0, &[vec![false, false], vec![false, false]]);
        t.observe(20.0, &[vec![false, false], vec![false, false]]);
        let o = t.finish();
        assert_eq!(o[0].ownerless.len(), 1);
        assert_eq!(o[0].ownerless[0].end_ms, 20.0);
        assert_eq!(o[1].ownerless[0].start_ms, 0.0);
    }
}
