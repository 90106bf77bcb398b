//! A small TTL cache of answers, keyed by name and type.
//!
//! Ours rather than hickory's: hickory caches above its name-server pool, but
//! failover between upstreams happens above that, and an answer must keep
//! saying which forwarder and upstream gave it. routerd looks up a handful of
//! names (AFTR, DoH hosts), so a bounded map with eviction of the entry that
//! expires first is plenty. Time comes in as an argument.

use std::collections::HashMap;

use hickory_resolver::proto::rr::RecordType;
use tokio::time::{Duration, Instant};

use crate::answer::Answer;

type Key = (String, RecordType);

struct Entry {
    answer: Answer,
    expires: Instant,
}

/// Cached answers, at most `capacity` of them.
pub(crate) struct Cache {
    entries: HashMap<Key, Entry>,
    capacity: usize,
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity,
        }
    }

    /// The cached answer for `key` with its TTL counted down to `now`, marked
    /// `cached`; `None` if absent or expired.
    pub(crate) fn get(&mut self, key: &Key, now: Instant) -> Option<Answer> {
        let entry = self.entries.get(key)?;
        if entry.expires <= now {
            self.entries.remove(key);
            return None;
        }
        let left = entry.expires.duration_since(now);
        let mut answer = entry.answer.clone();
        // Round up: a record with 0.4 s left is still valid, and a TTL of 0
        // would tell the caller not to use it.
        answer.ttl =
            u32::try_from(left.as_secs() + u64::from(left.subsec_nanos() > 0)).unwrap_or(u32::MAX);
        answer.cached = true;
        Some(answer)
    }

    /// Stores `answer` for its TTL; a TTL of 0 is not stored (RFC 2308 §5:
    /// negative answers without an SOA must not be cached).
    pub(crate) fn insert(&mut self, key: Key, answer: Answer, now: Instant) {
        if answer.ttl == 0 || self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, e| e.expires > now);
            if self.entries.len() >= self.capacity
                && let Some(soonest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&soonest);
            }
        }
        let expires = now + Duration::from_secs(u64::from(answer.ttl));
        self.entries.insert(key, Entry { answer, expires });
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::answer::AnswerKind;

    fn answer(ttl: u32) -> Answer {
        Answer {
            name: "a.example.".into(),
            record_type: RecordType::A,
            kind: AnswerKind::NxDomain,
            addresses: Vec::new(),
            records: Vec::new(),
            ttl,
            forwarder: "f".into(),
            upstream: "u".into(),
            server: IpAddr::from([127, 0, 0, 1]),
            cached: false,
        }
    }

    fn key(n: &str) -> Key {
        (n.to_string(), RecordType::A)
    }

    #[test]
    fn an_entry_lives_for_its_ttl_and_counts_down() {
        let mut c = Cache::new(4);
        let t0 = Instant::now();
        c.insert(key("a"), answer(10), t0);
        let hit = c.get(&key("a"), t0 + Duration::from_millis(3500));
        assert_eq!(hit.as_ref().map(|a| (a.ttl, a.cached)), Some((7, true)));
        assert!(c.get(&key("a"), t0 + Duration::from_secs(10)).is_none());
        assert_eq!(c.len(), 0, "an expired entry is dropped when seen");
        assert!(c.get(&(String::from("a"), RecordType::AAAA), t0).is_none());
    }

    #[test]
    fn zero_ttl_is_not_cached() {
        let mut c = Cache::new(4);
        let t0 = Instant::now();
        c.insert(key("a"), answer(0), t0);
        assert!(c.get(&key("a"), t0).is_none());
    }

    #[test]
    fn a_full_cache_drops_expired_entries_then_the_one_expiring_first() {
        let mut c = Cache::new(2);
        let t0 = Instant::now();
        c.insert(key("short"), answer(5), t0);
        c.insert(key("long"), answer(100), t0);
        c.insert(key("new"), answer(50), t0);
        assert_eq!(c.len(), 2);
        assert!(c.get(&key("short"), t0).is_none());
        assert!(c.get(&key("long"), t0).is_some());
        // Once "new" has expired, inserting drops it rather than "long".
        let later = t0 + Duration::from_secs(60);
        c.insert(key("later"), answer(10), later);
        assert!(c.get(&key("long"), later).is_some());
        assert!(c.get(&key("later"), later).is_some());
        // Replacing a key never evicts another.
        c.insert(key("later"), answer(20), later);
        assert_eq!(c.len(), 2);
    }
}
