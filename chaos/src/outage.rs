//! From a prober's record of sends and replies to what the client saw: loss,
//! the largest gap between replies, and the outages (runs of lost probes).
//! Pure: times are milliseconds since the Unix epoch, given by the caller.

use serde::{Deserialize, Serialize};

/// One probe: its sequence number, when it was sent and when its reply came.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    /// Sequence number; probes are sent in increasing order.
    pub seq: u64,
    /// When it left, in Unix milliseconds.
    pub sent_ms: f64,
    /// When its first reply arrived, if one did.
    pub reply_ms: Option<f64>,
}

/// A run of consecutive lost probes, as the client experienced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outage {
    /// The last reply before the run (or the first lost send when the run
    /// opens the stream), in Unix milliseconds.
    pub start_ms: f64,
    /// The first reply after the run, or the end of the stream if none came.
    pub end_ms: f64,
    /// `end_ms - start_ms`: how long the client heard nothing.
    pub length_ms: f64,
    /// How many probes in a row were lost.
    pub lost: u64,
    /// The sequence number of the first lost probe.
    pub first_lost_seq: u64,
    /// False when the stream ended inside the outage.
    pub ended: bool,
}

/// What one probe stream (one family, one target) saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamSummary {
    /// Probes sent.
    pub sent: u64,
    /// Probes answered.
    pub received: u64,
    /// Probes never answered.
    pub lost: u64,
    /// The largest time without a reply: between two consecutive replies, or
    /// from the start or to the end of the stream when loss touches either.
    /// This is the client-observed outage.
    pub max_gap_ms: f64,
    /// Every run of lost probes, in order.
    pub outages: Vec<Outage>,
}

/// Summarises probes (sorted by `seq`) of a stream that started at `start_ms`
/// and ended at `end_ms`.
pub fn summarize(probes: &[Probe], start_ms: f64, end_ms: f64) -> StreamSummary {
    let sent = probes.len() as u64;
    let received = probes.iter().filter(|p| p.reply_ms.is_some()).count() as u64;
    let outages = outages(probes, end_ms);

    let mut arrivals: Vec<f64> = probes.iter().filter_map(|p| p.reply_ms).collect();
    arrivals.sort_by(f64::total_cmp);
    let mut max_gap = arrivals
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(0.0_f64, f64::max);
    for o in &outages {
        max_gap = max_gap.max(o.length_ms);
    }
    if arrivals.is_empty() && sent > 0 {
        max_gap = max_gap.max(end_ms - start_ms);
    }
    StreamSummary {
        sent,
        received,
        lost: sent - received,
        max_gap_ms: max_gap,
        outages,
    }
}

fn outages(probes: &[Probe], end_ms: f64) -> Vec<Outage> {
    let mut out = Vec::new();
    let mut last_reply: Option<f64> = None;
    let mut run: Option<(f64, u64, u64)> = None; // (start, first seq, lost)
    for p in probes {
        match (p.reply_ms, run.take()) {
            (Some(reply), Some((start, first, lost))) => {
                out.push(Outage {
                    start_ms: start,
                    end_ms: reply,
                    length_ms: reply - start,
                    lost,
                    first_lost_seq: first,
                    ended: true,
                });
                last_reply = Some(reply);
            }
            (Some(reply), None) => last_reply = Some(reply),
            (None, Some((start, first, lost))) => run = Some((start, first, lost + 1)),
            (None, None) => run = Some((last_reply.unwrap_or(p.sent_ms), p.seq, 1)),
        }
    }
    if let Some((start, first, lost)) = run {
        out.push(Outage {
            start_ms: start,
            end_ms,
            length_ms: end_ms - start,
            lost,
            first_lost_seq: first,
            ended: false,
        });
    }
    out
}

/// Whether a stream has had loss and then `n` replies in a row since, judged
/// while it runs: a probe counts as missing once a later one was answered, so
/// probes still in flight are never taken for lost.
pub fn recovered_after_loss(probes: &[Probe], n: usize) -> bool {
    let Some(last_answered) = probes.iter().rposition(|p| p.reply_ms.is_some()) else {
        return false;
    };
    let answered = &probes[..=last_answered];
    match answered.iter().rposition(|p| p.reply_ms.is_none()) {
        Some(hole) => last_answered - hole >= n,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Probes every 10 ms from t=0; `replies[i]` is the reply delay of probe i.
    fn stream(replies: &[Option<f64>]) -> Vec<Probe> {
        replies
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let sent = i as f64 * 10.0;
                Probe {
                    seq: i as u64,
                    sent_ms: sent,
                    reply_ms: r.map(|d| sent + d),
                }
            })
            .collect()
    }

    #[test]
    fn no_loss_means_no_outage_and_the_cadence_as_gap() {
        let p = stream(&[Some(1.0); 10]);
        let s = summarize(&p, 0.0, 100.0);
        assert_eq!((s.sent, s.received, s.lost), (10, 10, 0));
        assert!(s.outages.is_empty());
        assert!((s.max_gap_ms - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_run_of_losses_is_one_outage_from_reply_to_reply() {
        // Probes 3..=7 lost: last reply at 21 ms, next at 81 ms.
        let mut r = vec![Some(1.0); 10];
        for x in &mut r[3..8] {
            *x = None;
        }
        let s = summarize(&stream(&r), 0.0, 100.0);
        assert_eq!(s.lost, 5);
        assert_eq!(s.outages.len(), 1);
        let o = &s.outages[0];
        assert_eq!((o.lost, o.first_lost_seq, o.ended), (5, 3, true));
        assert!((o.start_ms - 21.0).abs() < 1e-9);
        assert!((o.end_ms - 81.0).abs() < 1e-9);
        assert!((s.max_gap_ms - 60.0).abs() < 1e-9);
    }

    #[test]
    fn separate_runs_are_separate_outages_and_the_largest_is_the_gap() {
        let r = [Some(1.0), None, Some(1.0), None, None, None, Some(1.0)];
        let s = summarize(&stream(&r), 0.0, 70.0);
        assert_eq!(s.outages.len(), 2);
        assert_eq!(s.outages[0].lost, 1);
        assert_eq!(s.outages[1].lost, 3);
        assert!((s.max_gap_ms - 40.0).abs() < 1e-9);
    }

    #[test]
    fn loss_at_the_end_is_an_open_outage_up_to_the_end() {
        let r = [Some(1.0), Some(1.0), None, None];
        let s = summarize(&stream(&r), 0.0, 500.0);
        let o = &s.outages[0];
        assert!(!o.ended);
        assert!((o.length_ms - 489.0).abs() < 1e-9);
        assert!((s.max_gap_ms - 489.0).abs() < 1e-9);
    }

    #[test]
    fn loss_at_the_start_counts_from_the_first_send() {
        let r = [None, None, Some(1.0)];
        let s = summarize(&stream(&r), 0.0, 30.0);
        assert!((s.outages[0].start_ms - 0.0).abs() < 1e-9);
        assert!((s.max_gap_ms - 21.0).abs() < 1e-9);
    }

    #[test]
    fn nothing_answered_is_one_outage_as_long_as_the_run() {
        let s = summarize(&stream(&[None; 5]), 0.0, 1000.0);
        assert_eq!(s.received, 0);
        assert!((s.max_gap_ms - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn a_late_reply_is_received_not_lost() {
        let r = [Some(1.0), Some(300.0), Some(1.0)];
        let s = summarize(&stream(&r), 0.0, 400.0);
        assert_eq!(s.lost, 0);
        assert!(s.outages.is_empty());
    }

    #[test]
    fn recovery_needs_a_hole_then_n_answers_in_a_row() {
        let ok = Some(1.0);
        assert!(!recovered_after_loss(&stream(&[ok; 20]), 3));
        assert!(!recovered_after_loss(&stream(&[ok, None, ok, ok]), 3));
        assert!(recovered_after_loss(&stream(&[ok, None, ok, ok, ok]), 3));
        // Unanswered probes after the last answer are in flight, not a hole.
        assert!(!recovered_after_loss(&stream(&[ok, ok, ok, None, None]), 1));
        // Only the last hole counts.
        assert!(!recovered_after_loss(
            &stream(&[ok, None, ok, ok, ok, None, ok]),
            3
        ));
    }
}
