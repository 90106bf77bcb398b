//! A YAML document as a tree of nodes that remember where they came from.
//!
//! Validation errors must name the line and column of the offending field, so
//! the config is first parsed into this tree (from saphyr-parser's event
//! stream, which carries positions) and only then turned into typed specs.
//! Plain scalars keep their source text: whether `1` is an integer or a string
//! depends on the field it lands in, not on the parser.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Limits that keep a hostile or runaway config from exhausting the router.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted document, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes after alias expansion (stops "billion laughs" documents).
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 16 * 1024 * 1024,
            max_depth: 64,
            max_nodes: 2_000_000,
        }
    }
}

/// A position in the source: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl Pos {
    fn from_span(span: &Span) -> Pos {
        Pos {
            line: span.start.line(),
            col: span.start.col() + 1,
        }
    }
}

/// One node of the document with its source position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub value: Value,
    /// Where the node starts in the source.
    pub pos: Pos,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar, with its text as written and whether it was quoted (quoted
    /// scalars and block scalars are always strings).
    Scalar { text: String, quoted: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping in source order; keys are strings (checked at parse time).
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key starts.
    pub pos: Pos,
}

/// Why a document could not be parsed at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// Where the problem is.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
}

impl Node {
    /// Looks up a key in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// The entries of a mapping node.
    pub fn entries(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The text of a scalar that is not null.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, quoted } if *quoted || !is_null(text) => Some(text),
            _ => None,
        }
    }

    /// True for `~`, `null` and empty plain scalars.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, quoted: false } if is_null(text))
    }

    /// A short description of the node's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar { quoted: true, .. } => "a string",
            Value::Scalar {
                text,
                quoted: false,
            } => plain_type_name(text),
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Follows a dotted path with `[i]` indexes (e.g. `spec.dependsOn[0].resource`)
    /// and returns the deepest node reached: the best position for a message.
    pub fn locate(&self, path: &str) -> &Node {
        let mut node = self;
        for segment in path_segments(path) {
            let next = match segment {
                Segment::Key(key) => node.get(key),
                Segment::Index(i) => match &node.value {
                    Value::Seq(items) => items.get(i),
                    _ => None,
                },
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    }

    /// The position of the key naming `path`'s last segment, if it exists.
    pub fn locate_key(&self, path: &str) -> Option<Pos> {
        let (parent, last) = match path.rfind('.') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => ("", path),
        };
        let parent = if parent.is_empty() {
            self
        } else {
            self.locate(parent)
        };
        parent
            .entries()?
            .iter()
            .find(|(k, _)| k.name == last)
            .map(|(k, _)| k.pos)
    }
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn path_segments(path: &str) -> impl Iterator<Item = Segment<'_>> {
    path.split('.').filter(|s| !s.is_empty()).flat_map(|part| {
        let mut out = Vec::new();
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                out.push(Segment::Index(i));
            }
            rest = &rest[end + 1..];
        }
        out
    })
}

pub(crate) fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Parses a YAML 1.2 core-schema integer (decimal, `0x`, `0o`).
pub(crate) fn parse_int(text: &str) -> Option<i128> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i128::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -value } else { value })
}

pub(crate) fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let looks_numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if looks_numeric && text.bytes().any(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

fn plain_type_name(text: &str) -> &'static str {
    if is_null(text) {
        "null"
    } else if parse_bool(text).is_some() {
        "a boolean"
    } else if parse_int(text).is_some() {
        "an integer"
    } else if parse_float(text).is_some() {
        "a number"
    } else {
        "a string"
    }
}

/// Parses one YAML document into a node tree.
pub fn parse(text: &str, limits: Limits) -> Result<Node, YamlError> {
    if text.len() > limits.max_bytes {
        return Err(YamlError {
            pos: Pos { line: 1, col: 1 },
            message: format!(
                "the file is {} bytes, more than the {} byte limit for a config",
                text.len(),
                limits.max_bytes
            ),
        });
    }
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        limits,
        anchors: HashMap::new(),
        nodes: 0,
        last_pos: Pos { line: 1, col: 1 },
    };
    builder.document()
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    limits: Limits,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    last_pos: Pos,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Pos), YamlError> {
        match self.parser.next_event() {
            Some(Ok((event, span))) => {
                let pos = Pos::from_span(&span);
                self.last_pos = pos;
                Ok((event, pos))
            }
            Some(Err(e)) => Err(YamlError {
                pos: Pos {
                    line: e.marker().line(),
                    col: e.marker().col() + 1,
                },
                message: format!("YAML syntax error: {}", e.info()),
            }),
            None => Err(self.error(self.last_pos, "unexpected end of the document")),
        }
    }

    fn error(&self, pos: Pos, message: impl Into<String>) -> YamlError {
        YamlError {
            pos,
            message: message.into(),
        }
    }

    fn document(&mut self) -> Result<Node, YamlError> {
        let mut root = None;
        loop {
            let (event, pos) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::DocumentStart(_) => {
                    if root.is_some() {
                        return Err(self.error(
                            pos,
                            "the file holds more than one YAML document; a config is one Router document",
                        ));
                    }
                    let (event, pos) = self.next()?;
                    root = Some(self.node(event, pos, 0)?);
                }
                Event::StreamEnd => {
                    return root.ok_or_else(|| self.error(pos, "the file is empty"));
                }
                _ => return Err(self.error(pos, "unexpected YAML content")),
            }
        }
    }

    fn count(&mut self, pos: Pos, n: usize) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > self.limits.max_nodes {
            return Err(self.error(
                pos,
                format!(
                    "the document expands to more than {} nodes (alias expansion?)",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, pos: Pos, depth: usize) -> Result<Node, YamlError> {
        if depth > self.limits.max_depth {
            return Err(self.error(
                pos,
                format!("nesting deeper than {} levels", self.limits.max_depth),
            ));
        }
        self.count(pos, 1)?;
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let mut quoted = !matches!(style, ScalarStyle::Plain);
                if let Some(tag) = tag {
                    match (tag.is_yaml_core_schema(), tag.suffix.as_str()) {
                        (true, "str") => quoted = true,
                        (true, "int" | "bool" | "float" | "null") => {}
                        _ => {
                            return Err(self.error(
                                pos,
                                format!("YAML tag {}{} is not supported", tag.handle, tag.suffix),
                            ));
                        }
                    }
                }
                let value = Value::Scalar {
                    text: text.into_owned(),
                    quoted,
                };
                (Node { value, pos }, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                self.reject_tag(tag.as_deref(), pos, "seq")?;
                let mut items = Vec::new();
                loop {
                    let (event, item_pos) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, item_pos, depth + 1)?);
                }
                (
                    Node {
                        value: Value::Seq(items),
                        pos,
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, tag) => {
                self.reject_tag(tag.as_deref(), pos, "map")?;
                let mut entries: Vec<(Key, Node)> = Vec::new();
                let mut seen: HashMap<String, Pos> = HashMap::new();
                loop {
                    let (event, key_pos) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key_node = self.node(event, key_pos, depth + 1)?;
                    let name = match key_node.value {
                        Value::Scalar { text, .. } => text,
                        _ => return Err(self.error(key_pos, "mapping keys must be plain strings")),
                    };
                    if name == "<<" {
                        return Err(self.error(key_pos, "YAML merge keys (<<) are not supported"));
                    }
                    // A set per mapping: a linear search would make a
                    // mapping with many keys quadratic to parse.
                    if let Some(first) = seen.get(&name) {
                        return Err(self.error(
                            key_pos,
                            format!(
                                "duplicate key `{name}` (first defined at line {})",
                                first.line
                            ),
                        ));
                    }
                    seen.insert(name.clone(), key_pos);
                    let (event, value_pos) = self.next()?;
                    let value = self.node(event, value_pos, depth + 1)?;
                    entries.push((Key { name, pos: key_pos }, value));
                }
                (
                    Node {
                        value: Value::Map(entries),
                        pos,
                    },
                    anchor,
                )
            }
            Event::Alias(id) => {
                let target = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| self.error(pos, "alias to an unknown anchor"))?;
                self.count(pos, count_nodes(&target))?;
                return Ok(Node {
                    value: target.value,
                    pos,
                });
            }
            _ => return Err(self.error(pos, "unexpected YAML event")),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn reject_tag(
        &self,
        tag: Option<&saphyr_parser::Tag>,
        pos: Pos,
        allowed: &str,
    ) -> Result<(), YamlError> {
        match tag {
            Some(tag) if !(tag.is_yaml_core_schema() && tag.suffix == allowed) => Err(self.error(
                pos,
                format!("YAML tag {}{} is not supported", tag.handle, tag.suffix),
            )),
            _ => Ok(()),
        }
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar { .. } => 0,
        Value::Seq(items) => items.iter().map(count_nodes).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| 1 + count_nodes(v)).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Node {
        parse(text, Limits::default()).expect("parses")
    }

    #[test]
    fn positions_are_one_based() {
        let doc = p("a: 1\nb:\n  c: x\n");
        assert_eq!(doc.get("a").unwrap().pos, Pos { line: 1, col: 4 });
        let c = doc.locate("b.c");
        assert_eq!(c.pos, Pos { line: 3, col: 6 });
        assert_eq!(doc.locate_key("b.c"), Some(Pos { line: 3, col: 3 }));
    }

    #[test]
    fn plain_scalars_keep_text_and_quoting() {
        let doc = p("a: 1\nb: \"1\"\nc: ~\n");
        assert_eq!(doc.get("a").unwrap().type_name(), "an integer");
        assert_eq!(doc.get("b").unwrap().type_name(), "a string");
        assert!(doc.get("c").unwrap().is_null());
    }

    #[test]
    fn sequence_paths_resolve() {
        let doc = p("l:\n  - x: 1\n  - x: 2\n");
        assert_eq!(doc.locate("l[1].x").pos.line, 3);
    }

    #[test]
    fn duplicate_keys_are_rejected_with_both_lines() {
        let err = parse("a: 1\na: 2\n", Limits::default()).unwrap_err();
        assert_eq!(err.pos.line, 2);
        assert!(err.message.contains("line 1"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse("a: [1, 2\nb: 3\n", Limits::default()).unwrap_err();
        assert!(
            err.message.starts_with("YAML syntax error"),
            "{}",
            err.message
        );
        assert!(err.pos.line >= 1);
    }

    #[test]
    fn alias_bombs_are_stopped() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = parse(&text, Limits::default()).unwrap_err();
        assert!(err.message.contains("nodes"), "{}", err.message);
    }

    #[test]
    fn oversized_and_deep_documents_are_rejected() {
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        assert!(parse("a: 0123456789", limits).is_err());
        let deep = "[".repeat(100) + &"]".repeat(100);
        let err = parse(&deep, Limits::default()).unwrap_err();
        assert!(err.message.contains("nesting"), "{}", err.message);
    }

    #[test]
    fn empty_and_multi_document_files_are_errors() {
        assert!(parse("", Limits::default()).is_err());
        assert!(parse("a: 1\n---\nb: 2\n", Limits::default()).is_err());
    }

    #[test]
    fn core_schema_scalars() {
        assert_eq!(parse_int("0x1F"), Some(31));
        assert_eq!(parse_int("-12"), Some(-12));
        assert_eq!(parse_int("1.5"), None);
        assert_eq!(parse_float("1.5"), Some(1.5));
        assert_eq!(parse_float("abc"), None);
        assert_eq!(parse_bool("True"), Some(true));
    }
}
