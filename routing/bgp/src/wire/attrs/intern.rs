//! Interning: one shared copy of each distinct attribute set.
//!
//! A full table has far fewer distinct attribute sets than routes (100k
//! prefixes from one peer usually share a handful), so a RIB that stores an
//! `Arc<PathAttributes>` per route instead of a copy keeps its memory close
//! to one pointer per route.

use std::collections::HashSet;
use std::sync::Arc;

use super::PathAttributes;

/// A set of shared attribute sets.
#[derive(Debug, Default)]
pub struct AttrInterner {
    set: HashSet<Arc<PathAttributes>>,
}

impl AttrInterner {
    /// An empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared copy equal to `attrs`, created on first sight.
    pub fn intern(&mut self, attrs: PathAttributes) -> Arc<PathAttributes> {
        if let Some(shared) = self.set.get(&attrs) {
            return Arc::clone(shared);
        }
        let shared = Arc::new(attrs);
        self.set.insert(Arc::clone(&shared));
        shared
    }

    /// Distinct sets held.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// True when nothing is interned.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Drops the sets no route refers to any more; returns how many. Call it
    /// after large withdrawals (a session going down).
    pub fn sweep(&mut self) -> usize {
        let before = self.set.len();
        self.set.retain(|a| Arc::strong_count(a) > 1);
        before - self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::attrs::{AsPath, Origin};

    #[test]
    fn equal_sets_share_one_allocation() {
        let mut i = AttrInterner::new();
        let a = PathAttributes {
            origin: Some(Origin::Igp),
            as_path: AsPath::from_sequence([65001, 65002]),
            ..Default::default()
        };
        let x = i.intern(a.clone());
        let y = i.intern(a.clone());
        assert!(Arc::ptr_eq(&x, &y));
        let z = i.intern(PathAttributes { med: Some(5), ..a });
        assert!(!Arc::ptr_eq(&x, &z));
        assert_eq!(i.len(), 2);
        drop(z);
        assert_eq!(i.sweep(), 1);
        drop((x, y));
        assert_eq!(i.sweep(), 1);
        assert!(i.is_empty());
    }
}
