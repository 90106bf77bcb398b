//! What a resource kind is, and the type-erased form the registry keeps.
//!
//! A kind is one module: a spec type plus a `Kind` impl with its semantic
//! checks. The registry (`registry.rs`) lists the kinds; nothing else needs
//! to change to add one.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::de::{self, Issue};
use crate::types::ResourceRef;
use crate::yaml::{Node, Pos};

/// A resource kind: its names and its spec type.
pub trait Kind: 'static {
    /// The kind as written in YAML, e.g. `Interface`.
    const KIND: &'static str;
    /// The apiVersion the kind belongs to, e.g. `net.routerd.net/v1alpha1`.
    const API_VERSION: &'static str;
    /// The typed spec.
    type Spec: DeserializeOwned + Serialize + JsonSchema + Debug + Clone + PartialEq + Send + Sync;

    /// Checks one spec beyond what its types say: ranges, combinations,
    /// references to other resources.
    fn check(spec: &Self::Spec, c: &mut Checker<'_>) {
        let _ = (spec, c);
    }

    /// Checks all resources of this kind together (overlaps, clashes).
    fn check_all(items: &[(&Resource, &Self::Spec)], c: &mut SetChecker<'_>) {
        let _ = (items, c);
    }
}

/// A spec whose concrete type is known only to its kind.
pub trait AnySpec: Any + Debug + Send + Sync {
    /// For downcasting to the concrete spec type.
    fn as_any(&self) -> &dyn Any;
    /// The spec as JSON, in the same field names as the YAML.
    fn to_json(&self) -> serde_json::Value;
    /// Equality across the type erasure.
    fn dyn_eq(&self, other: &dyn AnySpec) -> bool;
}

impl<T: Serialize + PartialEq + Debug + Send + Sync + 'static> AnySpec for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    fn dyn_eq(&self, other: &dyn AnySpec) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
}

/// One resource of a loaded config.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Its kind, e.g. `Interface`.
    pub kind: &'static str,
    /// Its apiVersion.
    pub api_version: &'static str,
    /// `metadata.name`.
    pub name: String,
    /// The typed spec.
    pub spec: Arc<dyn AnySpec>,
    /// Where the resource starts in its file.
    pub pos: Pos,
    /// `metadata.nodes`: the cluster nodes the resource applies on (`None`:
    /// every node).
    pub nodes: Option<Vec<String>>,
}

impl Resource {
    /// `Kind/name`, the resource's identity.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// The spec as its concrete type, if the resource is of kind `K`.
    pub fn spec_as<K: Kind>(&self) -> Option<&K::Spec> {
        if self.kind == K::KIND {
            self.spec.as_any().downcast_ref::<K::Spec>()
        } else {
            None
        }
    }

    /// Whether the resource applies on the cluster node `node`.
    pub fn applies_on(&self, node: &str) -> bool {
        self.nodes
            .as_ref()
            .is_none_or(|nodes| nodes.iter().any(|n| n == node))
    }

    /// The resource as a YAML/JSON object in the Router document's shape.
    pub fn to_json(&self) -> serde_json::Value {
        let mut metadata = serde_json::json!({ "name": self.name });
        if let Some(nodes) = &self.nodes {
            metadata["nodes"] = serde_json::json!(nodes);
        }
        serde_json::json!({
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": metadata,
            "spec": self.spec.to_json(),
        })
    }
}

impl PartialEq for Resource {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.api_version == other.api_version
            && self.name == other.name
            && self.nodes == other.nodes
            && self.spec.dyn_eq(other.spec.as_ref())
    }
}

/// A reference from one resource to another, checked once all are loaded.
#[derive(Debug, Clone)]
pub(crate) struct PendingRef {
    pub(crate) from: String,
    pub(crate) path: String,
    pub(crate) pos: Pos,
    pub(crate) target: ResourceRef,
    /// Other kinds that would satisfy the reference too (e.g. any kind that
    /// provides an interface).
    pub(crate) alternatives: &'static [&'static str],
}

/// Collects the semantic problems of one resource.
pub struct Checker<'a> {
    pub(crate) node: &'a Node,
    pub(crate) issues: Vec<(Issue, bool)>,
    pub(crate) refs: Vec<PendingRef>,
    pub(crate) resource: String,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(node: &'a Node, resource: String) -> Self {
        Checker {
            node,
            issues: Vec::new(),
            refs: Vec::new(),
            resource,
        }
    }

    fn pos(&self, path: &str) -> Pos {
        self.node.locate(path).pos
    }

    /// Reports an error at `path` (e.g. `spec.mtu`).
    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        let pos = self.pos(path);
        self.issues.push((
            Issue {
                pos,
                path: path.to_string(),
                message: message.into(),
            },
            true,
        ));
    }

    /// Reports a warning at `path`: the config loads.
    pub fn warn(&mut self, path: &str, message: impl Into<String>) {
        let pos = self.pos(path);
        self.issues.push((
            Issue {
                pos,
                path: path.to_string(),
                message: message.into(),
            },
            false,
        ));
    }

    /// Records that `path` names the resource `kind/name`, which must exist.
    pub fn reference(&mut self, path: &str, kind: &str, name: &str) {
        let pos = self.pos(path);
        self.refs.push(PendingRef {
            from: self.resource.clone(),
            path: path.to_string(),
            pos,
            target: ResourceRef {
                kind: kind.to_string(),
                name: name.to_string(),
            },
            alternatives: &[],
        });
    }

    /// Records that `path` names a resource of one of `kinds` (the first is
    /// the one named in messages).
    pub fn reference_one_of(&mut self, path: &str, kinds: &'static [&'static str], name: &str) {
        self.reference(path, kinds[0], name);
        if let Some(last) = self.refs.last_mut() {
            last.alternatives = kinds;
        }
    }

    /// Records a `Kind/name` reference.
    pub fn reference_to(&mut self, path: &str, target: &ResourceRef) {
        self.reference(path, &target.kind, &target.name);
    }
}

/// Collects problems found across all resources of one kind.
pub struct SetChecker<'a> {
    pub(crate) nodes: &'a dyn Fn(&Resource) -> Option<&'a Node>,
    pub(crate) issues: Vec<(String, Issue)>,
}

impl SetChecker<'_> {
    /// Reports an error at `path` of `resource`.
    pub fn error(&mut self, resource: &Resource, path: &str, message: impl Into<String>) {
        let pos = (self.nodes)(resource)
            .map(|n| n.locate(path).pos)
            .unwrap_or(resource.pos);
        self.issues.push((
            resource.id(),
            Issue {
                pos,
                path: path.to_string(),
                message: message.into(),
            },
        ));
    }
}

/// A parsed spec (if it could be built) and the problems found on the way.
pub(crate) type ParsedSpec = (Option<Arc<dyn AnySpec>>, Vec<Issue>);

/// A registered kind, with its type erased.
pub struct KindEntry {
    /// The kind name.
    pub kind: &'static str,
    /// Its apiVersion.
    pub api_version: &'static str,
    pub(crate) parse: fn(&Node) -> ParsedSpec,
    pub(crate) check: fn(&dyn AnySpec, &mut Checker<'_>),
    pub(crate) check_all: fn(&[&Resource], &mut SetChecker<'_>),
    pub(crate) schema: fn(&mut SchemaGenerator) -> Schema,
}

impl KindEntry {
    /// The entry for kind `K`: this is the one line that registers a kind.
    pub const fn of<K: Kind>() -> KindEntry {
        KindEntry {
            kind: K::KIND,
            api_version: K::API_VERSION,
            parse: parse_spec::<K>,
            check: check_spec::<K>,
            check_all: check_all_specs::<K>,
            schema: spec_schema::<K>,
        }
    }
}

fn parse_spec<K: Kind>(node: &Node) -> ParsedSpec {
    let (spec, issues) = de::deserialize::<K::Spec>(node, "spec");
    (spec.map(|s| Arc::new(s) as Arc<dyn AnySpec>), issues)
}

fn check_spec<K: Kind>(spec: &dyn AnySpec, c: &mut Checker<'_>) {
    if let Some(spec) = spec.as_any().downcast_ref::<K::Spec>() {
        K::check(spec, c);
    }
}

fn check_all_specs<K: Kind>(resources: &[&Resource], c: &mut SetChecker<'_>) {
    let items: Vec<(&Resource, &K::Spec)> = resources
        .iter()
        .filter_map(|r| r.spec_as::<K>().map(|s| (*r, s)))
        .collect();
    K::check_all(&items, c);
}

fn spec_schema<K: Kind>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<K::Spec>()
}
