//! The Router document: loading, checking everything, and the loaded `Config`.

use std::collections::HashMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;
use crate::diag::{Diagnostics, Severity, Sink};
use crate::kind::{Checker, Kind, KindEntry, PendingRef, Resource, SetChecker};
use crate::kinds::common::check_name;
use crate::registry::{self, KINDS, KNOWN_ELSEWHERE};
use crate::suggest::did_you_mean;
use crate::yaml::{self, Limits, Node, Pos, Value};

/// The apiVersion of the Router document.
pub const ROUTER_API_VERSION: &str = "routerd.net/v1alpha1";

/// Router-wide reconcile settings (`spec.reconcile`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReconcileSpec {
    /// `strict` (default): stop applying at the first failed change;
    /// `progressive`: record failures and carry on with the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ReconcileMode>,
    /// Kernel interfaces routerd never changes, whatever the resources say
    /// (for example the management link).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected_interfaces: Vec<String>,
    /// Firewall zones routerd never changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected_zones: Vec<String>,
    /// Size conntrack tables automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_tune_conntrack: Option<bool>,
}

/// How failures during apply are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReconcileMode {
    /// Stop at the first failed change.
    Strict,
    /// Record failed changes and continue.
    Progressive,
}

/// A loaded, checked config.
#[derive(Debug, Clone)]
pub struct Config {
    /// `metadata.name` of the Router document.
    pub name: String,
    /// Router-wide reconcile settings.
    pub reconcile: ReconcileSpec,
    /// The resources, in file order.
    pub resources: Vec<Resource>,
}

impl PartialEq for Config {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.reconcile == other.reconcile
            && self.resources == other.resources
    }
}

impl Config {
    /// Resources of kind `K` with their typed specs.
    pub fn of_kind<K: Kind>(&self) -> impl Iterator<Item = (&Resource, &K::Spec)> {
        self.resources
            .iter()
            .filter_map(|r| r.spec_as::<K>().map(|s| (r, s)))
    }

    /// The resource `kind/name`.
    pub fn find(&self, kind: &str, name: &str) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.kind == kind && r.name == name)
    }

    /// The resources that apply on cluster node `node` (those without
    /// `metadata.nodes`, and those that list it).
    pub fn for_node(&self, node: &str) -> Config {
        Config {
            name: self.name.clone(),
            reconcile: self.reconcile.clone(),
            resources: self
                .resources
                .iter()
                .filter(|r| r.applies_on(node))
                .cloned()
                .collect(),
        }
    }

    /// Every node named in some resource's `metadata.nodes`.
    pub fn named_nodes(&self) -> std::collections::BTreeSet<&str> {
        self.resources
            .iter()
            .flat_map(|r| r.nodes.iter().flatten().map(String::as_str))
            .collect()
    }

    /// The spec of the `K` named `name`.
    pub fn spec_of<K: Kind>(&self, name: &str) -> Option<&K::Spec> {
        self.find(K::KIND, name).and_then(|r| r.spec_as::<K>())
    }

    /// The config as a Router document (JSON), in the published shape.
    pub fn to_document(&self) -> serde_json::Value {
        let mut spec = serde_json::Map::new();
        if self.reconcile != ReconcileSpec::default() {
            spec.insert(
                "reconcile".into(),
                serde_json::to_value(&self.reconcile).unwrap_or_default(),
            );
        }
        spec.insert(
            "resources".into(),
            self.resources.iter().map(Resource::to_json).collect(),
        );
        serde_json::json!({
            "apiVersion": ROUTER_API_VERSION,
            "kind": "Router",
            "metadata": { "name": self.name },
            "spec": spec,
        })
    }
}

/// A config that loaded, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// Warnings (never errors).
    pub warnings: Diagnostics,
}

/// Reads and checks a config file.
pub fn load_file(path: &Path) -> Result<Loaded, Diagnostics> {
    let label = path.display().to_string();
    let mut sink = Sink::new(&label);
    let metadata = std::fs::metadata(path);
    if let Ok(m) = &metadata
        && m.len() > Limits::default().max_bytes as u64
    {
        sink.error(
            Pos { line: 1, col: 1 },
            None,
            "",
            format!(
                "the file is {} bytes, more than the {} byte limit for a config",
                m.len(),
                Limits::default().max_bytes
            ),
        );
        return Err(sink.finish());
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            sink.error(
                Pos { line: 1, col: 1 },
                None,
                "",
                format!("cannot read the file: {e}"),
            );
            return Err(sink.finish());
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => load_str(&label, &text),
        Err(e) => {
            let prefix = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = prefix.iter().filter(|b| **b == b'\n').count() + 1;
            sink.error(
                Pos { line, col: 1 },
                None,
                "",
                "the file is not valid UTF-8",
            );
            Err(sink.finish())
        }
    }
}

/// Parses and checks config text; `file` labels the diagnostics.
pub fn load_str(file: &str, text: &str) -> Result<Loaded, Diagnostics> {
    let mut sink = Sink::new(file);
    let root = match yaml::parse(text, Limits::default()) {
        Ok(root) => root,
        Err(e) => {
            sink.error(e.pos, None, "", e.message);
            return Err(sink.finish());
        }
    };
    let config = Loader::new(&mut sink).document(&root);
    let diagnostics = sink.finish();
    match config {
        Some(config) if !diagnostics.has_errors() => Ok(Loaded {
            config,
            warnings: diagnostics,
        }),
        _ => Err(diagnostics),
    }
}

struct Loader<'s> {
    sink: &'s mut Sink,
    /// `Kind/name` of resources whose kind this build lacks, so references
    /// to them say that rather than "does not exist".
    unimplemented: Vec<(String, String)>,
}

/// A resource whose envelope was readable, with its spec if that parsed.
struct Parsed<'n> {
    entry: &'static KindEntry,
    name: String,
    node: &'n Node,
    spec: Option<Resource>,
}

impl<'s> Loader<'s> {
    fn new(sink: &'s mut Sink) -> Self {
        Loader {
            sink,
            unimplemented: Vec::new(),
        }
    }

    fn error(&mut self, pos: Pos, resource: Option<&str>, path: &str, message: impl Into<String>) {
        self.sink.error(pos, resource, path, message);
    }

    /// Checks that `node` is a mapping holding only `allowed` keys.
    fn check_keys(
        &mut self,
        node: &Node,
        path: &str,
        resource: Option<&str>,
        allowed: &[&str],
    ) -> bool {
        let Some(entries) = node.entries() else {
            self.error(
                node.pos,
                resource,
                path,
                format!("expected a mapping, found {}", node.type_name()),
            );
            return false;
        };
        for (key, _) in entries {
            if !allowed.contains(&key.name.as_str()) {
                let mut message = format!("unknown field `{}`", key.name);
                if let Some(s) = did_you_mean(&key.name, allowed.iter().copied()) {
                    message.push_str(&format!("; did you mean `{s}`?"));
                }
                let key_path = join(path, &key.name);
                self.error(key.pos, resource, &key_path, message);
            }
        }
        true
    }

    fn required_str<'n>(
        &mut self,
        node: &'n Node,
        key: &str,
        path: &str,
        resource: Option<&str>,
    ) -> Option<&'n str> {
        let field_path = join(path, key);
        match node.get(key) {
            None => {
                self.error(
                    node.pos,
                    resource,
                    &field_path,
                    format!("required field `{key}` is missing"),
                );
                None
            }
            Some(v) => match v.as_str() {
                Some(s) if !s.is_empty() => Some(s),
                _ => {
                    self.error(
                        v.pos,
                        resource,
                        &field_path,
                        format!("expected a non-empty string, found {}", v.type_name()),
                    );
                    None
                }
            },
        }
    }

    fn document(&mut self, root: &Node) -> Option<Config> {
        if !self.check_keys(root, "", None, &["apiVersion", "kind", "metadata", "spec"]) {
            return None;
        }
        if let Some(api) = self.required_str(root, "apiVersion", "", None)
            && api != ROUTER_API_VERSION
        {
            let pos = root.locate("apiVersion").pos;
            self.error(
                pos,
                None,
                "apiVersion",
                format!("expected `{ROUTER_API_VERSION}`, found `{api}`"),
            );
        }
        if let Some(kind) = self.required_str(root, "kind", "", None)
            && kind != "Router"
        {
            let pos = root.locate("kind").pos;
            self.error(
                pos,
                None,
                "kind",
                format!("a config file holds one `Router` document, found kind `{kind}`"),
            );
        }
        let name = self.metadata_name(root, "", None).unwrap_or_default();
        let Some(spec) = root.get("spec") else {
            self.error(root.pos, None, "spec", "required field `spec` is missing");
            return None;
        };
        if !self.check_keys(spec, "spec", None, &["reconcile", "resources"]) {
            return None;
        }
        let reconcile = match spec.get("reconcile") {
            Some(node) => {
                let (value, issues) = de::deserialize::<ReconcileSpec>(node, "spec.reconcile");
                for i in issues {
                    self.error(i.pos, None, &i.path, i.message);
                }
                value.unwrap_or_default()
            }
            None => ReconcileSpec::default(),
        };
        self.reconcile_warnings(&reconcile, spec);
        let items: &[Node] = match spec.get("resources").map(|n| &n.value) {
            Some(Value::Seq(items)) => items,
            Some(_) if spec.get("resources").is_some_and(Node::is_null) => &[],
            Some(_) => {
                let node = spec.locate("resources");
                self.error(
                    node.pos,
                    None,
                    "spec.resources",
                    format!("expected a list, found {}", node.type_name()),
                );
                return None;
            }
            None => &[],
        };

        let parsed: Vec<Parsed<'_>> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.resource(i, item))
            .collect();
        self.check_duplicates(&parsed);
        let resources: Vec<Resource> = parsed.iter().filter_map(|p| p.spec.clone()).collect();
        let mut refs = Vec::new();
        for p in &parsed {
            if let Some(resource) = &p.spec {
                let mut checker = Checker::new(p.node, resource.id());
                (p.entry.check)(resource.spec.as_ref(), &mut checker);
                for (issue, is_error) in checker.issues {
                    let severity = if is_error {
                        Severity::Error
                    } else {
                        Severity::Warning
                    };
                    self.sink.push(
                        severity,
                        issue.pos,
                        Some(&resource.id()),
                        &issue.path,
                        issue.message,
                    );
                }
                refs.extend(checker.refs);
            }
        }
        self.check_refs(&parsed, &refs);
        self.check_sets(&parsed, &resources);
        self.check_ports(&parsed, &resources);
        self.check_nodes(&parsed, &resources);

        Some(Config {
            name,
            reconcile,
            resources,
        })
    }

    fn reconcile_warnings(&mut self, reconcile: &ReconcileSpec, spec: &Node) {
        if reconcile.auto_tune_conntrack.is_some() {
            let pos = spec.locate("reconcile.autoTuneConntrack").pos;
            self.sink.push(
                Severity::Warning,
                pos,
                None,
                "spec.reconcile.autoTuneConntrack",
                "has no effect: this build of routerd does not manage conntrack yet",
            );
        }
        if !reconcile.protected_zones.is_empty() {
            let pos = spec.locate("reconcile.protectedZones").pos;
            self.sink.push(
                Severity::Warning,
                pos,
                None,
                "spec.reconcile.protectedZones",
                "has no effect: this build of routerd has no firewall zones yet",
            );
        }
    }

    fn metadata_name(&mut self, node: &Node, path: &str, resource: Option<&str>) -> Option<String> {
        let meta_path = join(path, "metadata");
        let Some(meta) = node.get("metadata") else {
            self.error(
                node.pos,
                resource,
                &meta_path,
                "required field `metadata` is missing",
            );
            return None;
        };
        // Resources may be pinned to cluster nodes; the Router itself not.
        let keys: &[&str] = if resource.is_some() {
            &["name", "nodes"]
        } else {
            &["name"]
        };
        if !self.check_keys(meta, &meta_path, resource, keys) {
            return None;
        }
        let name = self.required_str(meta, "name", &meta_path, resource)?;
        if let Err(e) = check_name(name) {
            let pos = meta.locate("name").pos;
            self.error(pos, resource, &join(&meta_path, "name"), e);
            return None;
        }
        Some(name.to_string())
    }

    /// `metadata.nodes`: a list of node names, each a valid name.
    fn metadata_nodes(&mut self, node: &Node, label: &str) -> Option<Vec<String>> {
        let list = node.locate("metadata.nodes");
        let list_node = node.get("metadata").and_then(|m| m.get("nodes"))?;
        let Value::Seq(items) = &list_node.value else {
            self.error(
                list.pos,
                Some(label),
                "metadata.nodes",
                "must be a list of cluster node names",
            );
            return None;
        };
        let mut names = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("metadata.nodes[{i}]");
            match item.as_str() {
                Some(s) if crate::kinds::cluster::check_node_name(s).is_ok() => {
                    if names.iter().any(|n| n == s) {
                        self.error(
                            item.pos,
                            Some(label),
                            &path,
                            format!("node `{s}` is listed twice"),
                        );
                    } else {
                        names.push(s.to_string());
                    }
                }
                _ => self.error(
                    item.pos,
                    Some(label),
                    &path,
                    "must be a node name (letters, digits, `-`, `_` and `.`)",
                ),
            }
        }
        if names.is_empty() && items.is_empty() {
            self.error(
                list_node.pos,
                Some(label),
                "metadata.nodes",
                "an empty list would apply the resource nowhere; remove the field to apply it everywhere",
            );
        }
        Some(names)
    }

    fn resource<'n>(&mut self, index: usize, node: &'n Node) -> Option<Parsed<'n>> {
        let path = format!("spec.resources[{index}]");
        if !self.check_keys(
            node,
            &path,
            None,
            &["apiVersion", "kind", "metadata", "spec", "status"],
        ) {
            return None;
        }
        let kind = self.required_str(node, "kind", &path, None)?;
        let Some(entry) = registry::find(kind) else {
            let pos = node.locate("kind").pos;
            let message = if KNOWN_ELSEWHERE.contains(&kind) {
                if let Some(name) = node.locate("metadata.name").as_str() {
                    self.unimplemented
                        .push((kind.to_string(), name.to_string()));
                }
                format!("kind `{kind}` is not implemented by this build of routerd yet")
            } else {
                let all = KINDS
                    .iter()
                    .map(|k| k.kind)
                    .chain(KNOWN_ELSEWHERE.iter().copied());
                match did_you_mean(kind, all) {
                    Some(s) => format!("unknown kind `{kind}`; did you mean `{s}`?"),
                    None => format!("unknown kind `{kind}`"),
                }
            };
            self.error(pos, None, &join(&path, "kind"), message);
            return None;
        };
        let name = self.metadata_name(node, &path, Some(kind));
        let label = match &name {
            Some(n) => format!("{kind}/{n}"),
            None => kind.to_string(),
        };
        match self.required_str(node, "apiVersion", &path, Some(&label)) {
            Some(api) if api != entry.api_version => {
                let pos = node.locate("apiVersion").pos;
                self.error(
                    pos,
                    Some(&label),
                    "apiVersion",
                    format!("{kind} belongs to `{}`, not `{api}`", entry.api_version),
                );
            }
            _ => {}
        }
        let name = name?;
        let null = Node {
            value: Value::Scalar {
                text: String::new(),
                quoted: false,
            },
            pos: node.pos,
        };
        let nodes = self.metadata_nodes(node, &label);
        let spec_node = node.get("spec").unwrap_or(&null);
        let (spec, issues) = (entry.parse)(spec_node);
        for issue in issues {
            self.error(issue.pos, Some(&label), &issue.path, issue.message);
        }
        let spec = spec.map(|spec| Resource {
            kind: entry.kind,
            api_version: entry.api_version,
            name: name.clone(),
            spec,
            pos: node.pos,
            nodes,
        });
        Some(Parsed {
            entry,
            name,
            node,
            spec,
        })
    }

    fn check_duplicates(&mut self, parsed: &[Parsed<'_>]) {
        let mut seen: HashMap<(&str, &str), Pos> = HashMap::new();
        for p in parsed {
            let pos = p.node.locate("metadata.name").pos;
            if let Some(first) = seen.get(&(p.entry.kind, p.name.as_str())) {
                let label = format!("{}/{}", p.entry.kind, p.name);
                self.error(
                    pos,
                    Some(&label),
                    "metadata.name",
                    format!(
                        "duplicate resource: {label} is already defined at line {}",
                        first.line
                    ),
                );
            } else {
                seen.insert((p.entry.kind, p.name.as_str()), pos);
            }
        }
    }

    fn check_refs(&mut self, parsed: &[Parsed<'_>], refs: &[PendingRef]) {
        let index: std::collections::HashSet<(&str, &str)> = parsed
            .iter()
            .map(|p| (p.entry.kind, p.name.as_str()))
            .collect();
        for r in refs {
            let kinds: Vec<&str> = if r.alternatives.is_empty() {
                vec![r.target.kind.as_str()]
            } else {
                r.alternatives.to_vec()
            };
            let exists = kinds
                .iter()
                .any(|k| index.contains(&(*k, r.target.name.as_str())));
            if exists {
                continue;
            }
            let unbuilt = self
                .unimplemented
                .iter()
                .find(|(k, n)| kinds.contains(&k.as_str()) && *n == r.target.name)
                .cloned();
            let mut message = if let Some((kind, name)) = unbuilt {
                format!(
                    "refers to {kind}/{name}, a kind this build of routerd does not implement yet"
                )
            } else if registry::find(&r.target.kind).is_some() {
                format!("`{}` names no {} resource", r.target.name, r.target.kind)
            } else if KNOWN_ELSEWHERE.contains(&r.target.kind.as_str()) {
                format!(
                    "refers to {}, a kind this build of routerd does not implement yet",
                    r.target
                )
            } else {
                format!(
                    "refers to {}, but there is no kind `{}`",
                    r.target, r.target.kind
                )
            };
            let names = parsed
                .iter()
                .filter(|p| p.entry.kind == r.target.kind)
                .map(|p| p.name.as_str());
            if let Some(s) = did_you_mean(&r.target.name, names) {
                message.push_str(&format!("; did you mean `{s}`?"));
            }
            self.error(r.pos, Some(&r.from), &r.path, message);
        }
    }

    /// `metadata.nodes` must name members of the cluster.
    fn check_nodes(&mut self, parsed: &[Parsed<'_>], resources: &[Resource]) {
        use crate::kinds::RouterdCluster;
        let members: Option<Vec<String>> = resources
            .iter()
            .find_map(|r| r.spec_as::<RouterdCluster>())
            .map(|c| c.members().into_iter().map(|m| m.name).collect());
        for r in resources {
            let Some(nodes) = &r.nodes else { continue };
            let Some(node) = parsed
                .iter()
                .find(|p| p.entry.kind == r.kind && p.name == r.name)
                .map(|p| p.node)
            else {
                continue;
            };
            for (i, n) in nodes.iter().enumerate() {
                let path = format!("metadata.nodes[{i}]");
                let pos = node.locate(&path).pos;
                match &members {
                    None => {
                        self.error(
                            pos,
                            Some(&r.id()),
                            &path,
                            "pins the resource to a node, but there is no RouterdCluster",
                        );
                        break;
                    }
                    Some(m) if !m.contains(n) => {
                        let hint = match did_you_mean(n, m.iter().map(String::as_str)) {
                            Some(s) => format!("; did you mean `{s}`?"),
                            None => String::new(),
                        };
                        self.error(
                            pos,
                            Some(&r.id()),
                            &path,
                            format!("`{n}` is not a RouterdCluster peer{hint}"),
                        );
                    }
                    Some(_) => {}
                }
            }
        }
    }

    /// Listen ports claimed twice (`crate::ports`), per node's view like
    /// the set checks.
    fn check_ports(&mut self, parsed: &[Parsed<'_>], resources: &[Resource]) {
        let named: std::collections::BTreeSet<&str> = resources
            .iter()
            .flat_map(|r| r.nodes.iter().flatten().map(String::as_str))
            .collect();
        let views: Vec<Option<&str>> = if named.is_empty() {
            vec![None]
        } else {
            named.into_iter().map(Some).collect()
        };
        let mut seen = std::collections::HashSet::new();
        for view in views {
            let visible: Vec<&Resource> = resources
                .iter()
                .filter(|r| view.is_none_or(|n| r.applies_on(n)))
                .collect();
            for c in crate::ports::collisions(&visible) {
                if !seen.insert((c.resource.clone(), c.message.clone())) {
                    continue;
                }
                let pos = parsed
                    .iter()
                    .find(|p| format!("{}/{}", p.entry.kind, p.name) == c.resource)
                    .map_or(Pos { line: 1, col: 1 }, |p| p.node.locate(&c.path).pos);
                self.error(pos, Some(&c.resource), &c.path, c.message);
            }
        }
    }

    fn check_sets(&mut self, parsed: &[Parsed<'_>], resources: &[Resource]) {
        let nodes = |res: &Resource| {
            parsed
                .iter()
                .find(|p| p.entry.kind == res.kind && p.name == res.name)
                .map(|p| p.node)
        };
        let mut set = SetChecker {
            nodes: &nodes,
            issues: Vec::new(),
        };
        // Resources pinned to different nodes never meet on one router, so
        // cross-resource checks run once per node's view of the config.
        let named: std::collections::BTreeSet<&str> = resources
            .iter()
            .flat_map(|r| r.nodes.iter().flatten().map(String::as_str))
            .collect();
        let views: Vec<Option<&str>> = if named.is_empty() {
            vec![None]
        } else {
            named.into_iter().map(Some).collect()
        };
        for view in views {
            for entry in KINDS {
                let of_kind: Vec<&Resource> = resources
                    .iter()
                    .filter(|r| r.kind == entry.kind && view.is_none_or(|n| r.applies_on(n)))
                    .collect();
                if !of_kind.is_empty() {
                    (entry.check_all)(&of_kind, &mut set);
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (resource, issue) in set.issues {
            if seen.insert((resource.clone(), issue.path.clone(), issue.message.clone())) {
                self.error(issue.pos, Some(&resource), &issue.path, issue.message);
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}
