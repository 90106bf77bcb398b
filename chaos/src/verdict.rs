//! The checker's verdict: every invariant of a chaos run, judged from the
//! owner observations, the fault windows, the prober's report and the
//! convergence check. Pure.

use serde::Serialize;

use crate::faults::{self, FaultLog, Interval};
use crate::owners::VipObservation;
use crate::prober::ProbeReport;

/// The bounds a run is judged against.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Bounds {
    /// After a fault window closes, how long recovery may still take.
    pub grace_ms: f64,
    /// The longest a VIP may have no owner outside fault windows and grace.
    pub max_ownerless_ms: f64,
    /// The longest client-observed gap in traffic, faults included.
    pub max_gap_ms: f64,
}

/// The outcome of the convergence hooks: one result per node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeGeneration {
    /// The node.
    pub node: String,
    /// Its committed generation, or why it could not be read.
    pub generation: Result<u64, String>,
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Violation {
    /// More than one router held a VIP in the same sample(s).
    SplitBrain {
        /// The VIP.
        vip: String,
        /// First and last sample of the run.
        during: Interval,
        /// Samples in the run.
        samples: u64,
        /// Routers that held it.
        routers: Vec<String>,
        /// The fault in force then, if any (a split brain is never excused).
        fault: Option<String>,
    },
    /// A VIP had no owner for too long outside fault windows and grace.
    NoOwner {
        /// The VIP.
        vip: String,
        /// The unexcused part of the ownerless run.
        during: Interval,
        /// Its length.
        length_ms: f64,
    },
    /// The client saw a gap in traffic longer than the bound.
    TrafficGap {
        /// `v4` or `v6`.
        family: String,
        /// The outage.
        during: Interval,
        /// Its length.
        length_ms: f64,
        /// Probes lost in it.
        lost: u64,
        /// The fault in force when it began, if any.
        fault: Option<String>,
    },
    /// The prober's report was required and could not be used.
    ProbeUnavailable {
        /// Why.
        reason: String,
    },
    /// A node's sampler could not observe it (namespace gone, netlink error).
    SamplerFailed {
        /// The router.
        router: String,
        /// The error.
        reason: String,
    },
    /// Nodes report different committed generations, or one could not say.
    Diverged {
        /// Each node's answer.
        generations: Vec<NodeGeneration>,
    },
}

impl PartialEq for NodeGeneration {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node && self.generation == other.generation
    }
}

/// Everything the checker knows at the end of a run.
#[derive(Debug, Clone)]
pub struct Evidence<'a> {
    /// VIP names, as given.
    pub vips: &'a [String],
    /// Router names, as given.
    pub routers: &'a [String],
    /// One observation per VIP.
    pub owners: &'a [VipObservation],
    /// The declared faults.
    pub faults: &'a FaultLog,
    /// The end of the run, Unix milliseconds (open windows last until then).
    pub run_end_ms: f64,
    /// The prober's report: `None` when not asked for, `Some(Err)` when asked
    /// for and unusable.
    pub probe: Option<Result<&'a ProbeReport, String>>,
    /// The convergence results, `None` when not asked for.
    pub generations: Option<&'a [NodeGeneration]>,
    /// Sampler failures: (router, error).
    pub sampler_errors: &'a [(String, String)],
}

/// The verdict: pass when there is no violation.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// True when every invariant held.
    pub pass: bool,
    /// Each broken invariant.
    pub violations: Vec<Violation>,
}

fn fault_label(log: &FaultLog, at_ms: f64, grace_ms: f64) -> Option<String> {
    log.window_at(at_ms, grace_ms)
        .map(|w| format!("#{} {} {}", w.id, w.kind, w.node))
}

/// Judges a run.
pub fn judge(ev: &Evidence<'_>, bounds: &Bounds) -> Verdict {
    let mut violations = Vec::new();
    for (router, reason) in ev.sampler_errors {
        violations.push(Violation::SamplerFailed {
            router: router.clone(),
            reason: reason.clone(),
        });
    }

    let excused = ev.faults.excused(bounds.grace_ms, ev.run_end_ms);
    for (vip, obs) in ev.vips.iter().zip(ev.owners) {
        for run in &obs.split_runs {
            violations.push(Violation::SplitBrain {
                vip: vip.clone(),
                during: run.during,
                samples: run.samples,
                routers: run
                    .routers
                    .iter()
                    .map(|r| {
                        ev.routers
                            .get(*r)
                            .cloned()
                            .unwrap_or_else(|| format!("#{r}"))
                    })
                    .collect(),
                fault: fault_label(ev.faults, run.during.start_ms, bounds.grace_ms),
            });
        }
        for run in &obs.ownerless {
            for part in faults::uncovered(*run, &excused) {
                if part.length_ms() > bounds.max_ownerless_ms {
                    violations.push(Violation::NoOwner {
                        vip: vip.clone(),
                        during: part,
                        length_ms: part.length_ms(),
                    });
                }
            }
        }
    }

    match &ev.probe {
        None => {}
        Some(Err(reason)) => violations.push(Violation::ProbeUnavailable {
            reason: reason.clone(),
        }),
        Some(Ok(report)) => {
            for s in &report.streams {
                for o in &s.summary.outages {
                    if o.length_ms > bounds.max_gap_ms {
                        violations.push(Violation::TrafficGap {
                            family: s.family.clone(),
                            during: Interval {
                                start_ms: o.start_ms,
                                end_ms: o.end_ms,
                            },
                            length_ms: o.length_ms,
                            lost: o.lost,
                            fault: fault_label(ev.faults, o.start_ms, bounds.grace_ms),
                        });
                    }
                }
            }
        }
    }

    if let Some(gens) = ev.generations
        && !converged(gens)
    {
        violations.push(Violation::Diverged {
            generations: gens.to_vec(),
        });
    }

    Verdict {
        pass: violations.is_empty(),
        violations,
    }
}

/// True when every node answered and all answers are equal.
pub fn converged(gens: &[NodeGeneration]) -> bool {
    let mut values = gens.iter().map(|g| g.generation.as_ref().ok());
    match values.next() {
        None => true,
        Some(None) => false,
        Some(Some(first)) => values.all(|v| v == Some(first)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outage::{Outage, StreamSummary};
    use crate::owners::SplitRun;
    use crate::prober::StreamReport;

    const BOUNDS: Bounds = Bounds {
        grace_ms: 1000.0,
        max_ownerless_ms: 500.0,
        max_gap_ms: 2000.0,
    };

    fn iv(a: f64, b: f64) -> Interval {
        Interval {
            start_ms: a,
            end_ms: b,
        }
    }

    fn faults(lines: &[&str]) -> FaultLog {
        let mut log = FaultLog::default();
        for l in lines {
            log.feed_line(l).unwrap();
        }
        log
    }

    fn evidence<'a>(
        vips: &'a [String],
        routers: &'a [String],
        owners: &'a [VipObservation],
        log: &'a FaultLog,
    ) -> Evidence<'a> {
        Evidence {
            vips,
            routers,
            owners,
            faults: log,
            run_end_ms: 100_000.0,
            probe: None,
            generations: None,
            sampler_errors: &[],
        }
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_quiet_run_passes() {
        let (v, r) = (names(&["10.99.0.254"]), names(&["r1", "r2"]));
        let owners = [VipObservation {
            samples_by_owners: [0, 100, 0],
            ..Default::default()
        }];
        let log = FaultLog::default();
        let verdict = judge(&evidence(&v, &r, &owners, &log), &BOUNDS);
        assert!(verdict.pass, "{verdict:?}");
    }

    #[test]
    fn split_brain_fails_even_inside_a_fault_window() {
        let (v, r) = (names(&["10.99.0.254"]), names(&["r1", "r2"]));
        let owners = [VipObservation {
            samples_by_owners: [0, 99, 1],
            split_runs: vec![SplitRun {
                during: iv(1500.0, 1500.0),
                samples: 1,
                max_owners: 2,
                routers: vec![0, 1],
            }],
            ownerless: vec![],
        }];
        let log =
            faults(&[r#"{"at_ms":1000,"event":"start","id":4,"kind":"lan-down","node":"r1"}"#]);
        let verdict = judge(&evidence(&v, &r, &owners, &log), &BOUNDS);
        assert!(!verdict.pass);
        match &verdict.violations[0] {
            Violation::SplitBrain { routers, fault, .. } => {
                assert_eq!(routers, &names(&["r1", "r2"]));
                assert_eq!(fault.as_deref(), Some("#4 lan-down r1"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn no_owner_is_excused_in_windows_and_grace_only() {
        let (v, r) = (names(&["vip"]), names(&["r1", "r2"]));
        let log = faults(&[
            r#"{"at_ms":1000,"event":"start","id":1,"kind":"kill-vrrp","node":"r1"}"#,
            r#"{"at_ms":2000,"event":"end","id":1}"#,
        ]);
        // Ownerless 1100..2900: inside the window plus 1 s grace.
        let excused = [VipObservation {
            ownerless: vec![iv(1100.0, 2900.0)],
            ..Default::default()
        }];
        assert!(judge(&evidence(&v, &r, &excused, &log), &BOUNDS).pass);
        // Ownerless 1100..3700: 700 ms past the grace, over the 500 ms bound.
        let late = [VipObservation {
            ownerless: vec![iv(1100.0, 3700.0)],
            ..Default::default()
        }];
        let verdict = judge(&evidence(&v, &r, &late, &log), &BOUNDS);
        assert_eq!(
            verdict.violations,
            vec![Violation::NoOwner {
                vip: "vip".into(),
                during: iv(3000.0, 3700.0),
                length_ms: 700.0
            }]
        );
        // A short blip outside any window is within the bound.
        let blip = [VipObservation {
            ownerless: vec![iv(5000.0, 5400.0)],
            ..Default::default()
        }];
        assert!(judge(&evidence(&v, &r, &blip, &log), &BOUNDS).pass);
    }

    fn report(lengths: &[f64]) -> ProbeReport {
        ProbeReport {
            interval_ms: 10.0,
            started_ms: 0.0,
            ended_ms: 100_000.0,
            stopped_by: "signal".into(),
            late_sends: 0,
            streams: vec![StreamReport {
                family: "v4".into(),
                target: "198.51.100.1".into(),
                send_errors: 0,
                duplicates: 0,
                summary: StreamSummary {
                    sent: 1000,
                    received: 990,
                    lost: 10,
                    max_gap_ms: lengths.iter().copied().fold(0.0, f64::max),
                    outages: lengths
                        .iter()
                        .map(|l| Outage {
                            start_ms: 100.0,
                            end_ms: 100.0 + l,
                            length_ms: *l,
                            lost: 3,
                            first_lost_seq: 10,
                            ended: true,
                        })
                        .collect(),
                },
            }],
        }
    }

    #[test]
    fn traffic_gaps_are_judged_against_the_bound_and_a_missing_report_fails() {
        let (v, r) = (names(&["vip"]), names(&["r1"]));
        let owners = [VipObservation::default()];
        let log = FaultLog::default();
        let ok = report(&[300.0, 1999.0]);
        let mut ev = evidence(&v, &r, &owners, &log);
        ev.probe = Some(Ok(&ok));
        assert!(judge(&ev, &BOUNDS).pass);

        let bad = report(&[300.0, 2500.0]);
        ev.probe = Some(Ok(&bad));
        let verdict = judge(&ev, &BOUNDS);
        assert!(matches!(
            verdict.violations.as_slice(),
            [Violation::TrafficGap { length_ms, .. }] if *length_ms == 2500.0
        ));

        ev.probe = Some(Err("no such file".into()));
        assert!(!judge(&ev, &BOUNDS).pass);
    }

    #[test]
    fn generations_must_all_be_read_and_equal() {
        let g = |node: &str, v: Result<u64, String>| NodeGeneration {
            node: node.into(),
            generation: v,
        };
        assert!(converged(&[g("r1", Ok(7)), g("r2", Ok(7)), g("w", Ok(7))]));
        assert!(!converged(&[g("r1", Ok(7)), g("r2", Ok(6))]));
        assert!(!converged(&[
            g("r1", Ok(7)),
            g("r2", Err("timeout".into()))
        ]));
        assert!(!converged(&[g("r1", Err("x".into())), g("r2", Ok(7))]));

        let (v, r) = (names(&["vip"]), names(&["r1", "r2"]));
        let owners = [VipObservation::default()];
        let log = FaultLog::default();
        let gens = [g("r1", Ok(7)), g("r2", Ok(6))];
        let mut ev = evidence(&v, &r, &owners, &log);
        ev.generations = Some(&gens);
        assert!(matches!(
            judge(&ev, &BOUNDS).violations.as_slice(),
            [Violation::Diverged { .. }]
        ));
    }
}
