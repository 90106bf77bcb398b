//! The replicated application state: configuration generations, the ownership table
//! and the membership, as every node holds it after applying the log.

use std::collections::VecDeque;
use std::time::Instant;

use routerd_ownership::Table;
use serde::{Deserialize, Serialize};

use crate::types::{LogId, Request, Response, StoredMembership};

/// How many past configuration generations each node keeps (for diff and rollback).
pub const CONFIG_HISTORY: usize = 32;

/// One applied configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigGeneration {
    pub generation: u64,
    pub yaml: String,
    /// Who proposed it (e.g. `routerctl apply` on r1), for audit.
    pub source: String,
}

/// The configuration history: the current generation and the last [`CONFIG_HISTORY`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigHistory {
    /// 0 until the first configuration is applied.
    pub current: u64,
    /// Oldest first; the last element is the current generation.
    pub generations: VecDeque<ConfigGeneration>,
}

impl ConfigHistory {
    /// The current configuration, if any was ever applied.
    pub fn current(&self) -> Option<&ConfigGeneration> {
        self.generations.back()
    }

    /// A kept generation by number.
    pub fn get(&self, generation: u64) -> Option<&ConfigGeneration> {
        self.generations.iter().find(|g| g.generation == generation)
    }

    fn put(&mut self, yaml: String, source: String) -> u64 {
        // Nodes started with the same file all offer it; the same text again
        // is the same generation, not a new one.
        if self.current().is_some_and(|g| g.yaml == yaml) {
            return self.current;
        }
        self.current += 1;
        self.generations.push_back(ConfigGeneration {
            generation: self.current,
            yaml,
            source,
        });
        while self.generations.len() > CONFIG_HISTORY {
            self.generations.pop_front();
        }
        self.current
    }
}

/// The state machine's content, readable through `ClusterNode::with_state`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppState {
    /// The last log entry applied.
    pub last_applied: Option<LogId>,
    /// The last membership applied, with every member's name and address.
    pub membership: StoredMembership,
    pub config: ConfigHistory,
    pub ownership: Table,
}

impl AppState {
    /// Applies one committed application request at local time `now`.
    pub(crate) fn apply(&mut self, req: &Request, now: Instant) -> Response {
        match req {
            Request::PutConfig { yaml, source } => Response::Config {
                generation: self.config.put(yaml.clone(), source.clone()),
            },
            Request::Ownership(op) => Response::Ownership(self.ownership.apply(op, now)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_count_up_and_keep_the_last_32() {
        let mut s = AppState::default();
        let now = Instant::now();
        for i in 1..=40u64 {
            let r = s.apply(
                &Request::PutConfig {
                    yaml: format!("v: {i}"),
                    source: "test".into(),
                },
                now,
            );
            assert_eq!(r, Response::Config { generation: i });
        }
        assert_eq!(s.config.current, 40);
        assert_eq!(s.config.generations.len(), CONFIG_HISTORY);
        assert_eq!(s.config.generations[0].generation, 9);
        assert_eq!(s.config.current().map(|g| g.yaml.as_str()), Some("v: 40"));
        assert!(s.config.get(8).is_none());
    }

    #[test]
    fn the_same_text_again_is_the_same_generation() {
        let mut s = AppState::default();
        let now = Instant::now();
        let put = |s: &mut AppState, yaml: &str| {
            s.apply(
                &Request::PutConfig {
                    yaml: yaml.into(),
                    source: "r1".into(),
                },
                now,
            )
        };
        assert_eq!(put(&mut s, "a"), Response::Config { generation: 1 });
        assert_eq!(put(&mut s, "a"), Response::Config { generation: 1 });
        assert_eq!(put(&mut s, "b"), Response::Config { generation: 2 });
        assert_eq!(put(&mut s, "a"), Response::Config { generation: 3 });
    }
}
