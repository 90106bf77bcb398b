//! routerd's nftables table.
//!
//! routerd owns one table, `inet routerd`, and never touches another. Its
//! content is rendered from typed intents ([`Service`]) into a value
//! ([`Table`], printable in nft syntax for tests, status and debugging), and
//! [`apply`] replaces the whole table with that value in one atomic batch
//! through libnftnl: the kernel sees the old rule set or the new one, never
//! a mix, and conntrack keeps established connections on the backend they
//! were DNATed to, whatever the new rules say.
//!
//! This is the one writer of nftables in routerd, as `routerd-kernel` is
//! of rtnetlink. It knows nothing of YAML, actors or health checks.
//!
//! Writes go to the network namespace of the calling thread.

mod encode;
mod error;
pub mod intent;
mod netlink;
pub mod render;

pub use error::NftError;
pub use intent::{Backend, Hairpin, L4, NoBackend, Selection, Service};
pub use render::{Table, render};

/// Replaces table `inet routerd` with `table` (deletes it when `table` is
/// empty) and returns the ruleset generation after the change, which
/// [`generation`] compares against to notice later edits by others.
pub fn apply(table: &Table) -> Result<u32, NftError> {
    let (batch, what) = encode::batch(table)?;
    let socket = netlink::Socket::open()?;
    let seqs = batch.sequence_numbers();
    // Kernels from 6.10 acknowledge the batch's begin and end messages too.
    let begin = usize::from(seqs.len() == what.len() + 2);
    let start = seqs.start;
    socket.exchange(batch.iter(), seqs, |seq| {
        usize::try_from(seq.wrapping_sub(start))
            .ok()
            .and_then(|i| i.checked_sub(begin))
            .and_then(|i| what.get(i))
            .cloned()
            .unwrap_or_else(|| "the batch".into())
    })?;
    socket.generation()
}

/// The current ruleset generation: it changes whenever any table changes,
/// so a value other than the one [`apply`] returned means someone else
/// changed nftables since (maybe routerd's table: re-apply to be sure).
pub fn generation() -> Result<u32, NftError> {
    netlink::Socket::open()?.generation()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_of_table_encodes() {
        let backends = vec![
            Backend {
                name: "a".into(),
                address: "2001:db8:1::1".parse().expect("ip"),
                port: 80,
                weight: 3,
            },
            Backend {
                name: "b".into(),
                address: "2001:db8:2::1".parse().expect("ip"),
                port: 81,
                weight: 1,
            },
        ];
        let mut services = Vec::new();
        for (i, selection) in [
            Selection::Failover,
            Selection::SourceHash,
            Selection::Random,
        ]
        .into_iter()
        .enumerate()
        {
            services.push(Service {
                name: format!("s{i}"),
                address: "2001:db8::10".parse().expect("ip"),
                protocol: L4::Udp,
                port: 53 + i as u16,
                selection,
                backends: backends.clone(),
                no_backend: NoBackend::Drop,
                hairpin: Some(Hairpin {
                    interfaces: vec!["lan0".into()],
                }),
            });
        }
        let (_, what) = encode::batch(&render(&services)).expect("encodes");
        assert!(
            what.iter()
                .any(|w| w.starts_with("the map of `") && w.contains("jhash")),
            "{what:?}"
        );
        assert!(
            what.iter()
                .any(|w| w.starts_with("rule `") && w.contains("numgen"))
        );
        let (_, what) = encode::batch(&Table::default()).expect("encodes");
        assert_eq!(what.len(), 2, "an empty table is only deleted");
        assert_eq!(what[1], "deleting table inet routerd");
    }
}
