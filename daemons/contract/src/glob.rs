//! Dotted topic patterns used by event subscriptions (`routerd.*.lan.up`, `**.up`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A parsed topic pattern: `*` matches one segment, `**` any number (including none).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicGlob {
    source: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Literal(String),
    One,
    Any,
}

/// Why a topic pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// The pattern was the empty string.
    #[error("empty topic pattern")]
    Empty,
    /// Two dots in a row, or a leading or trailing dot.
    #[error("topic pattern {0:?} has an empty segment")]
    EmptySegment(String),
    /// A `*` mixed with other characters inside one segment (`foo*`).
    #[error("topic pattern {0:?}: wildcards must be a whole segment (`*` or `**`)")]
    PartialWildcard(String),
}

impl TopicGlob {
    /// Parses a dotted pattern such as `routerd.interface.*.up` or `routerd.**`.
    pub fn parse(pattern: &str) -> Result<TopicGlob, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError::Empty);
        }
        let segments = pattern
            .split('.')
            .map(|segment| match segment {
                "" => Err(GlobError::EmptySegment(pattern.to_string())),
                "*" => Ok(Segment::One),
                "**" => Ok(Segment::Any),
                s if s.contains('*') => Err(GlobError::PartialWildcard(pattern.to_string())),
                s => Ok(Segment::Literal(s.to_string())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TopicGlob {
            source: pattern.to_string(),
            segments,
        })
    }

    /// Whether `topic` (a dotted event type) matches this pattern. A malformed topic
    /// (empty, or with an empty segment) matches nothing.
    pub fn matches(&self, topic: &str) -> bool {
        let parts: Vec<&str> = topic.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return false;
        }
        // reachable[j]: the pattern prefix consumed so far can match the first j
        // topic segments. A table instead of recursion keeps several `**` linear.
        let mut reachable = vec![false; parts.len() + 1];
        reachable[0] = true;
        for segment in &self.segments {
            let mut next = vec![false; parts.len() + 1];
            for j in 0..=parts.len() {
                if !reachable[j] {
                    continue;
                }
                match segment {
                    Segment::Any => next[j..].iter_mut().for_each(|cell| *cell = true),
                    Segment::One if j < parts.len() => next[j + 1] = true,
                    Segment::Literal(lit) if j < parts.len() && parts[j] == lit => {
                        next[j + 1] = true
                    }
                    _ => {}
                }
            }
            reachable = next;
        }
        reachable[parts.len()]
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for TopicGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for TopicGlob {
    type Err = GlobError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TopicGlob::parse(s)
    }
}

impl TryFrom<String> for TopicGlob {
    type Error = GlobError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        TopicGlob::parse(&value)
    }
}

impl From<TopicGlob> for String {
    fn from(glob: TopicGlob) -> String {
        glob.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> TopicGlob {
        TopicGlob::parse(p).unwrap()
    }

    #[test]
    fn literal_matches_only_itself() {
        let g = glob("routerd.interface.lan.up");
        assert!(g.matches("routerd.interface.lan.up"));
        assert!(!g.matches("routerd.interface.lan"));
        assert!(!g.matches("routerd.interface.lan.up.extra"));
        assert!(!g.matches("routerd.interface.wan.up"));
    }

    #[test]
    fn double_star_suffix_matches_zero_or_more() {
        let g = glob("routerd.**");
        assert!(g.matches("routerd"));
        assert!(g.matches("routerd.a"));
        assert!(g.matches("routerd.a.b"));
        assert!(!g.matches("routerdx.a"));
        assert!(!g.matches("other.routerd"));
    }

    #[test]
    fn single_star_matches_exactly_one_segment() {
        let g = glob("routerd.*.lan.up");
        assert!(g.matches("routerd.interface.lan.up"));
        assert!(g.matches("routerd.dhcp.lan.up"));
        assert!(!g.matches("routerd.lan.up"));
        assert!(!g.matches("routerd.a.b.lan.up"));
    }

    #[test]
    fn double_star_prefix_and_middle() {
        let g = glob("**.up");
        assert!(g.matches("up"));
        assert!(g.matches("routerd.interface.lan.up"));
        assert!(!g.matches("routerd.interface.lan.down"));
        assert!(!g.matches("routerd.up.down"));

        let g = glob("routerd.**.up");
        assert!(g.matches("routerd.up"));
        assert!(g.matches("routerd.a.b.up"));
        assert!(!g.matches("routerd.a.b.down"));

        let g = glob("**.**.*");
        assert!(g.matches("a"));
        assert!(!g.matches(""));
        assert!(!glob("**").matches("a..b"));
        assert!(glob("**").matches("anything.at.all"));
    }

    #[test]
    fn rejects_malformed_patterns() {
        assert_eq!(TopicGlob::parse(""), Err(GlobError::Empty));
        assert!(matches!(
            TopicGlob::parse("a..b"),
            Err(GlobError::EmptySegment(_))
        ));
        assert!(matches!(
            TopicGlob::parse(".a"),
            Err(GlobError::EmptySegment(_))
        ));
        assert!(matches!(
            TopicGlob::parse("a."),
            Err(GlobError::EmptySegment(_))
        ));
        assert!(matches!(
            TopicGlob::parse("a.b*.c"),
            Err(GlobError::PartialWildcard(_))
        ));
        assert!(matches!(
            TopicGlob::parse("a.***"),
            Err(GlobError::PartialWildcard(_))
        ));
    }

    #[test]
    fn display_and_from_str_round_trip() {
        let g: TopicGlob = "routerd.*.lan.**".parse().unwrap();
        assert_eq!(g.to_string(), "routerd.*.lan.**");
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(json, "\"routerd.*.lan.**\"");
        let back: TopicGlob = serde_json::from_str(&json).unwrap();
        assert_eq!(back, g);
        assert!(serde_json::from_str::<TopicGlob>("\"a..b\"").is_err());
    }
}
