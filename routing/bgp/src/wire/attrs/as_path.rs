//! AS_PATH and AS4_PATH (RFC 4271 §4.3 and §5.1.2, RFC 5065 for the
//! confederation segments, RFC 6793 for four-octet ASNs).

use std::fmt;

use thiserror::Error;

use super::super::reader::Reader;
use crate::wire::types::AS_TRANS;

/// A path segment type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentType {
    /// AS_SET (1): unordered.
    Set,
    /// AS_SEQUENCE (2): ordered, nearest AS first.
    Sequence,
    /// AS_CONFED_SEQUENCE (3, RFC 5065).
    ConfedSequence,
    /// AS_CONFED_SET (4, RFC 5065).
    ConfedSet,
}

impl SegmentType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Set,
            2 => Self::Sequence,
            3 => Self::ConfedSequence,
            4 => Self::ConfedSet,
            _ => return None,
        })
    }

    fn to_u8(self) -> u8 {
        match self {
            Self::Set => 1,
            Self::Sequence => 2,
            Self::ConfedSequence => 3,
            Self::ConfedSet => 4,
        }
    }

    /// True for the two confederation segment types.
    pub fn is_confed(self) -> bool {
        matches!(self, Self::ConfedSequence | Self::ConfedSet)
    }
}

/// One path segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AsSegment {
    /// Segment type.
    pub kind: SegmentType,
    /// ASNs, four-octet.
    pub asns: Vec<u32>,
}

/// An AS path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AsPath {
    /// Segments in wire order.
    pub segments: Vec<AsSegment>,
}

/// Why an AS_PATH (or AS4_PATH) is malformed (RFC 7606 §7.2, RFC 6793 §6).
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq, Hash)]
pub enum AsPathError {
    /// A segment type other than 1–4.
    #[error("unrecognized segment type {0}")]
    UnknownSegmentType(u8),
    /// A segment with Path Segment Length 0.
    #[error("segment of length zero")]
    ZeroLengthSegment,
    /// A segment runs past the attribute.
    #[error("segment overruns the attribute")]
    Overrun,
    /// One octet left after the last segment.
    #[error("one octet left after the last segment")]
    Underrun,
    /// AS4_PATH length not a multiple of two or under six octets.
    #[error("AS4_PATH length")]
    As4Length,
}

impl AsPath {
    /// An empty path.
    pub fn new() -> Self {
        Self::default()
    }

    /// A path of one AS_SEQUENCE (empty input gives an empty path).
    pub fn from_sequence(asns: impl IntoIterator<Item = u32>) -> Self {
        let asns: Vec<u32> = asns.into_iter().collect();
        if asns.is_empty() {
            return Self::new();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    /// True when the path has no segment.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The path length for best-path selection: an AS_SET counts as one
    /// (RFC 4271 §9.1.2.2), confederation segments count as zero
    /// (RFC 5065 §5.3).
    pub fn route_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
            })
            .sum()
    }

    /// The leftmost AS of a leading AS_SEQUENCE: the neighbour AS an eBGP
    /// route must start with (RFC 4271 §6.3; treat-as-withdraw when it does
    /// not, RFC 7606 §7.2).
    pub fn first_asn(&self) -> Option<u32> {
        let s = self.segments.first()?;
        (s.kind == SegmentType::Sequence)
            .then(|| s.asns.first().copied())
            .flatten()
    }

    /// The originating AS: the last ASN of a trailing AS_SEQUENCE.
    pub fn origin_asn(&self) -> Option<u32> {
        let s = self.segments.last()?;
        (s.kind == SegmentType::Sequence)
            .then(|| s.asns.last().copied())
            .flatten()
    }

    /// True if `asn` appears anywhere (loop detection, RFC 4271 §9.1.2).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// True if a confederation segment is present.
    pub fn has_confed(&self) -> bool {
        self.segments.iter().any(|s| s.kind.is_confed())
    }

    /// Prepends `asn` `count` times, as a speaker does before advertising to
    /// an external peer (RFC 4271 §5.1.2).
    pub fn prepend(&mut self, asn: u32, count: usize) {
        match self.segments.first_mut() {
            Some(s) if s.kind == SegmentType::Sequence => {
                s.asns.splice(0..0, std::iter::repeat_n(asn, count));
            }
            _ => self.segments.insert(
                0,
                AsSegment {
                    kind: SegmentType::Sequence,
                    asns: vec![asn; count],
                },
            ),
        }
    }

    /// Decodes AS_PATH (or AS4_PATH with `four_octet`) per RFC 7606 §7.2.
    pub(crate) fn decode(value: &[u8], four_octet: bool) -> Result<Self, AsPathError> {
        let width = if four_octet { 4 } else { 2 };
        let mut r = Reader::new(value);
        let mut segments = Vec::new();
        while !r.is_empty() {
            if r.remaining() == 1 {
                return Err(AsPathError::Underrun);
            }
            let t = r.u8().ok_or(AsPathError::Underrun)?;
            let n = r.u8().ok_or(AsPathError::Underrun)?;
            let kind = SegmentType::from_u8(t).ok_or(AsPathError::UnknownSegmentType(t))?;
            if n == 0 {
                return Err(AsPathError::ZeroLengthSegment);
            }
            let raw = r.take(usize::from(n) * width).ok_or(AsPathError::Overrun)?;
            let asns = if four_octet {
                raw.chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            } else {
                raw.chunks_exact(2)
                    .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                    .collect()
            };
            segments.push(AsSegment { kind, asns });
        }
        Ok(AsPath { segments })
    }

    /// Decodes AS4_PATH: RFC 6793 §6's extra length rule, then the segment
    /// rules. Confederation segments are not allowed there; they are dropped
    /// and reported through the returned flag.
    pub(crate) fn decode_as4(value: &[u8]) -> Result<(Self, bool), AsPathError> {
        if !value.len().is_multiple_of(2) || value.len() < 6 {
            return Err(AsPathError::As4Length);
        }
        let mut path = Self::decode(value, true)?;
        let before = path.segments.len();
        path.segments.retain(|s| !s.kind.is_confed());
        let dropped = path.segments.len() != before;
        Ok((path, dropped))
    }

    /// Appends the attribute value: four-octet ASNs, or two-octet ones with
    /// AS_TRANS in place of any ASN above 65535 (RFC 6793 §4.2.2). Segments
    /// longer than 255 ASNs are split.
    pub(crate) fn encode(&self, four_octet: bool, out: &mut Vec<u8>) {
        for s in &self.segments {
            for chunk in s.asns.chunks(255) {
                out.push(s.kind.to_u8());
                out.push(u8::try_from(chunk.len()).unwrap_or(u8::MAX));
                for &asn in chunk {
                    if four_octet {
                        out.extend_from_slice(&asn.to_be_bytes());
                    } else {
                        let a = u16::try_from(asn).unwrap_or(AS_TRANS as u16);
                        out.extend_from_slice(&a.to_be_bytes());
                    }
                }
            }
        }
    }

    /// True if a 2-octet peer needs AS4_PATH to learn this path.
    pub(crate) fn needs_as4(&self) -> bool {
        self.segments
            .iter()
            .any(|s| s.asns.iter().any(|&a| a > u32::from(u16::MAX)))
    }

    /// The path without confederation segments: what AS4_PATH carries.
    pub(crate) fn without_confed(&self) -> AsPath {
        AsPath {
            segments: self
                .segments
                .iter()
                .filter(|s| !s.kind.is_confed())
                .cloned()
                .collect(),
        }
    }

    /// Rebuilds the real path from AS_PATH and AS4_PATH (RFC 6793 §4.2.3):
    /// AS4_PATH is ignored when it is longer than AS_PATH; otherwise the
    /// leading part of AS_PATH that AS4_PATH does not cover is prepended to it,
    /// along with any confederation segment at the front or next to a
    /// prepended segment.
    pub(crate) fn merge_as4(&self, as4: &AsPath) -> AsPath {
        let (n2, n4) = (self.route_len(), as4.route_len());
        if n2 < n4 {
            return self.clone();
        }
        let mut need = n2 - n4;
        let mut segments = Vec::new();
        let mut prepended_last = true;
        for s in &self.segments {
            if need == 0 && !(s.kind.is_confed() && prepended_last) {
                break;
            }
            match s.kind {
                SegmentType::Sequence if s.asns.len() > need => {
                    segments.push(AsSegment {
                        kind: s.kind,
                        asns: s.asns[..need].to_vec(),
                    });
                    need = 0;
                    prepended_last = false;
                    continue;
                }
                SegmentType::Sequence => need -= s.asns.len(),
                SegmentType::Set => need -= 1,
                SegmentType::ConfedSequence | SegmentType::ConfedSet => {}
            }
            segments.push(s.clone());
            prepended_last = true;
        }
        // A zero-length partial sequence is not a segment.
        segments.retain(|s| !s.asns.is_empty());
        segments.extend(as4.segments.iter().cloned());
        AsPath { segments }
    }
}

impl fmt::Display for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.segments {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let (open, close) = match s.kind {
                SegmentType::Sequence => ("", ""),
                SegmentType::Set => ("{", "}"),
                SegmentType::ConfedSequence => ("(", ")"),
                SegmentType::ConfedSet => ("[", "]"),
            };
            f.write_str(open)?;
            for (i, a) in s.asns.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{a}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(a: &[u32]) -> AsSegment {
        AsSegment {
            kind: SegmentType::Sequence,
            asns: a.to_vec(),
        }
    }

    #[test]
    fn two_and_four_octet_encodings() {
        let p = AsPath {
            segments: vec![
                seq(&[65001, 4_200_000_000]),
                AsSegment {
                    kind: SegmentType::Set,
                    asns: vec![1, 2],
                },
            ],
        };
        let mut out = Vec::new();
        p.encode(true, &mut out);
        assert_eq!(
            out,
            [
                2, 2, 0, 0, 0xfd, 0xe9, 0xfa, 0x56, 0xea, 0x00, 1, 2, 0, 0, 0, 1, 0, 0, 0, 2
            ]
        );
        assert_eq!(AsPath::decode(&out, true), Ok(p.clone()));
        let mut out = Vec::new();
        p.encode(false, &mut out);
        assert_eq!(out, [2, 2, 0xfd, 0xe9, 0x5b, 0xa0, 1, 2, 0, 1, 0, 2]);
        assert!(p.needs_as4());
        assert_eq!(p.route_len(), 3);
        assert_eq!(p.to_string(), "65001 4200000000 {1 2}");
    }

    #[test]
    fn rfc7606_7_2_malformations() {
        assert_eq!(
            AsPath::decode(&[2, 1, 0, 1, 2], false),
            Err(AsPathError::Underrun)
        );
        assert_eq!(
            AsPath::decode(&[2, 2, 0, 1], false),
            Err(AsPathError::Overrun)
        );
        assert_eq!(
            AsPath::decode(&[2, 0], false),
            Err(AsPathError::ZeroLengthSegment)
        );
        assert_eq!(
            AsPath::decode(&[5, 1, 0, 1], false),
            Err(AsPathError::UnknownSegmentType(5))
        );
        assert_eq!(AsPath::decode(&[], false), Ok(AsPath::new()));
        assert_eq!(
            AsPath::decode_as4(&[2, 1, 0, 0]),
            Err(AsPathError::As4Length)
        );
        assert_eq!(
            AsPath::decode_as4(&[2, 1, 0, 0, 0, 1, 0]),
            Err(AsPathError::As4Length)
        );
    }

    #[test]
    fn long_segments_are_split() {
        let p = AsPath::from_sequence(1..=300);
        let mut out = Vec::new();
        p.encode(true, &mut out);
        let back = AsPath::decode(&out, true).expect("valid");
        assert_eq!(back.segments.len(), 2);
        assert_eq!(back.route_len(), 300);
    }

    #[test]
    fn rfc6793_merge() {
        // OLD speakers 65010, 65011 in front of AS_TRANS hops carried in AS4_PATH.
        let as_path = AsPath::from_sequence([65010, 65011, 23456, 23456]);
        let as4 = AsPath::from_sequence([4_200_000_001, 4_200_000_002]);
        let merged = as_path.merge_as4(&as4);
        assert_eq!(merged.route_len(), 4);
        assert_eq!(
            merged.segments,
            vec![seq(&[65010, 65011]), seq(&[4_200_000_001, 4_200_000_002])]
        );
        // AS4_PATH longer than AS_PATH: ignored.
        let longer = AsPath::from_sequence([1, 2, 3, 4, 5]);
        assert_eq!(as_path.merge_as4(&longer), as_path);
        // A leading confederation segment is kept.
        let confed = AsPath {
            segments: vec![
                AsSegment {
                    kind: SegmentType::ConfedSequence,
                    asns: vec![64512],
                },
                seq(&[65010, 23456]),
            ],
        };
        let merged = confed.merge_as4(&AsPath::from_sequence([4_200_000_001]));
        assert_eq!(
            merged.segments,
            vec![
                AsSegment {
                    kind: SegmentType::ConfedSequence,
                    asns: vec![64512]
                },
                seq(&[65010]),
                seq(&[4_200_000_001]),
            ]
        );
    }

    #[test]
    fn helpers() {
        let mut p = AsPath::from_sequence([65002, 65003]);
        assert_eq!(p.first_asn(), Some(65002));
        assert_eq!(p.origin_asn(), Some(65003));
        p.prepend(65001, 2);
        assert_eq!(p.to_string(), "65001 65001 65002 65003");
        assert!(p.contains(65003) && !p.contains(1));
        let mut e = AsPath::new();
        e.prepend(7, 1);
        assert_eq!(e, AsPath::from_sequence([7]));
    }
}
