//! serde deserialization from the positioned YAML tree, collecting every problem.
//!
//! serde stops at the first error, but a person fixing a config wants all of
//! them at once. The deserializer therefore records each problem with its
//! position and path, marks the offending node as skipped and fails; the
//! driver ([`deserialize`]) retries the whole resource without the skipped
//! nodes until it succeeds or no new problem turns up. Unknown fields are
//! recorded and stepped over without failing at all. Each retry skips at
//! least one more node, so the loop ends after at most one pass per node.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};

use crate::suggest::did_you_mean;
use crate::yaml::{self, Key, Node, Pos, Value};

/// A problem found while reading a value, located in the source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Issue {
    /// Where the problem is.
    pub pos: Pos,
    /// Dotted path of the field, e.g. `spec.dependsOn[0].resource`.
    pub path: String,
    /// What is wrong, said so that a person can fix it.
    pub message: String,
}

#[derive(Default)]
struct Ctx {
    issues: RefCell<Vec<Issue>>,
    skipped: RefCell<HashSet<*const Node>>,
    grew: Cell<bool>,
}

impl Ctx {
    fn record(&self, pos: Pos, path: &str, message: String) {
        self.issues.borrow_mut().push(Issue {
            pos,
            path: path.to_string(),
            message,
        });
    }

    fn skip(&self, node: &Node) {
        if self.skipped.borrow_mut().insert(node as *const Node) {
            self.grew.set(true);
        }
    }

    fn is_skipped(&self, node: &Node) -> bool {
        self.skipped.borrow().contains(&(node as *const Node))
    }
}

/// Deserializes `node` (found at `path`) into `T`, returning the value if it
/// could be built and every problem found on the way, in source order.
pub fn deserialize<T: DeserializeOwned>(node: &Node, path: &str) -> (Option<T>, Vec<Issue>) {
    let ctx = Ctx::default();
    let mut value = None;
    // Every retry skips at least one more node; the bound is a backstop.
    let attempts = count(node) + 2;
    for _ in 0..attempts {
        ctx.grew.set(false);
        match T::deserialize(NodeDe::new(node, path.to_string(), &ctx)) {
            Ok(v) => {
                value = Some(v);
                break;
            }
            Err(DeError::Recorded) => {}
            Err(e) => {
                ctx.record(node.pos, path, e.to_string());
                break;
            }
        }
        if !ctx.grew.get() {
            break;
        }
    }
    let mut issues = ctx.issues.into_inner();
    issues.sort();
    issues.dedup();
    // A value that was only built by skipping broken parts is not the user's value.
    if !ctx.skipped.borrow().is_empty() {
        value = None;
    }
    (value, issues)
}

fn count(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar { .. } => 0,
        Value::Seq(items) => items.iter().map(count).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| count(v)).sum(),
    }
}

/// The error type threaded through serde; positions are attached by the
/// deserializer at the node where the error surfaced.
#[derive(Debug)]
pub(crate) enum DeError {
    /// Already recorded in the context; just unwind.
    Recorded,
    /// A message still to be located at the node being read.
    Message(String),
    /// A required struct field is absent.
    Missing(&'static str),
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeError::Recorded => f.write_str("invalid value"),
            DeError::Message(m) => f.write_str(m),
            DeError::Missing(field) => write!(f, "required field `{field}` is missing"),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::Message(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::Missing(field)
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let choices: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
        let mut message = format!(
            "unknown value `{variant}`, expected one of {}",
            choices.join(", ")
        );
        if let Some(s) = did_you_mean(variant, expected.iter().copied()) {
            message.push_str(&format!("; did you mean `{s}`?"));
        }
        DeError::Message(message)
    }

    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        DeError::Message(format!("expected {exp}, found {unexp}"))
    }
}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
    ctx: &'a Ctx,
}

impl<'a> NodeDe<'a> {
    fn new(node: &'a Node, path: String, ctx: &'a Ctx) -> Self {
        NodeDe { node, path, ctx }
    }

    fn expected(&self, what: &str) -> DeError {
        DeError::Message(format!("expected {what}, found {}", self.node.type_name()))
    }

    fn plain(&self) -> Option<&'a str> {
        match &self.node.value {
            Value::Scalar {
                text,
                quoted: false,
            } => Some(text),
            _ => None,
        }
    }

    fn int(&self, lo: i128, hi: i128) -> Result<i128, DeError> {
        let text = self.plain().ok_or_else(|| self.expected("an integer"))?;
        let n = yaml::parse_int(text).ok_or_else(|| self.expected("an integer"))?;
        if n < lo || n > hi {
            return Err(DeError::Message(format!(
                "{n} is out of range ({lo}..={hi})"
            )));
        }
        Ok(n)
    }

    fn child(&self, node: &'a Node, path: String) -> NodeDe<'a> {
        NodeDe::new(node, path, self.ctx)
    }
}

/// Reads one child value; a failure is recorded at the child and the child
/// is skipped on the next attempt.
fn read_child<'de, S: DeserializeSeed<'de>>(seed: S, de: NodeDe<'_>) -> Result<S::Value, DeError> {
    let ctx = de.ctx;
    let node = de.node;
    let path = de.path.clone();
    match seed.deserialize(de) {
        Ok(v) => Ok(v),
        Err(DeError::Recorded) => {
            // A nested struct that failed without skipping anything (a
            // missing field) is skipped as a whole so the next attempt can
            // move on to its siblings.
            if !ctx.grew.get() {
                ctx.skip(node);
            }
            Err(DeError::Recorded)
        }
        Err(DeError::Missing(field)) => {
            ctx.record(
                node.pos,
                &join(&path, field),
                format!("required field `{field}` is missing"),
            );
            ctx.skip(node);
            Err(DeError::Recorded)
        }
        Err(DeError::Message(m)) => {
            ctx.record(node.pos, &path, m);
            ctx.skip(node);
            Err(DeError::Recorded)
        }
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

macro_rules! deserialize_int {
    ($($method:ident => $visit:ident($ty:ty),)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let n = self.int(<$ty>::MIN as i128, <$ty>::MAX as i128)?;
            // The range check above makes the cast lossless.
            visitor.$visit(n as $ty)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Scalar { text, quoted: true } => visitor.visit_str(text),
            Value::Scalar {
                text,
                quoted: false,
            } => {
                if yaml::is_null(text) {
                    visitor.visit_unit()
                } else if let Some(b) = yaml::parse_bool(text) {
                    visitor.visit_bool(b)
                } else if let Some(i) = yaml::parse_int(text) {
                    match i64::try_from(i) {
                        Ok(i) => visitor.visit_i64(i),
                        Err(_) => visitor.visit_str(text),
                    }
                } else if let Some(f) = yaml::parse_float(text) {
                    visitor.visit_f64(f)
                } else {
                    visitor.visit_str(text)
                }
            }
            Value::Seq(_) => self.deserialize_seq(visitor),
            Value::Map(_) => self.deserialize_map(visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.plain().and_then(yaml::parse_bool) {
            Some(b) => visitor.visit_bool(b),
            None => Err(self.expected("true or false")),
        }
    }

    deserialize_int! {
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.plain().and_then(yaml::parse_float) {
            Some(f) => visitor.visit_f64(f),
            None => Err(self.expected("a number")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // A plain `1` or `true` where a string is wanted is taken as written:
        // Sysctl values and suffixes are strings that often look like numbers.
        match self.node.as_str() {
            Some(text) => visitor.visit_str(text),
            None => Err(self.expected("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // Go configs use the empty string for "unset"; so do we.
        let empty = matches!(&self.node.value, Value::Scalar { text, .. } if text.is_empty());
        if self.node.is_null() || empty {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_unit()
        } else {
            Err(self.expected("nothing"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Seq(items) => visitor.visit_seq(Seq {
                items: items.iter().enumerate(),
                de: &self,
            }),
            _ => Err(self.expected("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(entries) => visitor.visit_map(Map {
                entries: entries.iter(),
                fields: None,
                value: None,
                de: &self,
            }),
            _ if self.node.is_null() => visitor.visit_map(Map {
                entries: [].iter(),
                fields: None,
                value: None,
                de: &self,
            }),
            _ => Err(self.expected("a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let entries: &[(Key, Node)] = match &self.node.value {
            Value::Map(entries) => entries,
            // `spec:` with nothing under it is an empty spec.
            _ if self.node.is_null() => &[],
            _ => return Err(self.expected("a mapping")),
        };
        for (key, _) in entries {
            if !fields.contains(&key.name.as_str()) {
                let mut message = format!("unknown field `{}`", key.name);
                match did_you_mean(&key.name, fields.iter().copied()) {
                    Some(s) => message.push_str(&format!("; did you mean `{s}`?")),
                    None if fields.len() <= 12 => {
                        let list: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
                        message.push_str(&format!("; known fields: {}", list.join(", ")));
                    }
                    None => {}
                }
                self.ctx
                    .record(key.pos, &join(&self.path, &key.name), message);
            }
        }
        let result = visitor.visit_map(Map {
            entries: entries.iter(),
            fields: Some(fields),
            value: None,
            de: &self,
        });
        match result {
            Err(DeError::Missing(field)) => {
                // A field that is present but was skipped as broken has
                // already been reported; don't call it missing as well.
                let present = entries.iter().any(|(k, _)| k.name == field);
                if !present {
                    self.ctx.record(
                        self.node.pos,
                        &join(&self.path, field),
                        format!("required field `{field}` is missing"),
                    );
                }
                Err(DeError::Recorded)
            }
            other => other,
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.node.as_str() {
            Some(text) => visitor.visit_enum(text.into_deserializer()),
            None => Err(self.expected("a string")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct Seq<'a, 'b, I> {
    items: I,
    de: &'b NodeDe<'a>,
}

impl<'de, 'a, 'b, I> SeqAccess<'de> for Seq<'a, 'b, I>
where
    I: Iterator<Item = (usize, &'a Node)>,
{
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        for (i, node) in self.items.by_ref() {
            if self.de.ctx.is_skipped(node) {
                continue;
            }
            let child = self.de.child(node, format!("{}[{i}]", self.de.path));
            return read_child(seed, child).map(Some);
        }
        Ok(None)
    }
}

struct Map<'a, 'b, I> {
    entries: I,
    fields: Option<&'static [&'static str]>,
    value: Option<(&'a Key, &'a Node)>,
    de: &'b NodeDe<'a>,
}

impl<'de, 'a, 'b, I> MapAccess<'de> for Map<'a, 'b, I>
where
    I: Iterator<Item = &'a (Key, Node)>,
{
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        for (key, node) in self.entries.by_ref() {
            if self.de.ctx.is_skipped(node) {
                continue;
            }
            if let Some(fields) = self.fields
                && !fields.contains(&key.name.as_str())
            {
                continue;
            }
            self.value = Some((key, node));
            return seed
                .deserialize(key.name.as_str().into_deserializer())
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (key, node) = self
            .value
            .take()
            .ok_or_else(|| DeError::Message("value requested before its key".into()))?;
        let child = self.de.child(node, join(&self.de.path, &key.name));
        read_child(seed, child)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{Limits, parse};
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Inner {
        name: String,
        count: u8,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Outer {
        admin_up: Option<bool>,
        mtu: Option<u32>,
        inner: Option<Inner>,
        list: Option<Vec<u16>>,
        mode: Option<Mode>,
        required: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    enum Mode {
        Strict,
        Progressive,
    }

    fn run(text: &str) -> (Option<Outer>, Vec<Issue>) {
        let node = parse(text, Limits::default()).unwrap();
        deserialize::<Outer>(&node, "spec")
    }

    #[test]
    fn a_valid_value_deserializes() {
        let (v, issues) =
            run("required: x\nadminUp: true\nmtu: 1500\nlist: [1, 2]\nmode: strict\n");
        assert!(issues.is_empty(), "{issues:?}");
        let v = v.unwrap();
        assert_eq!(v.mtu, Some(1500));
        assert_eq!(v.mode, Some(Mode::Strict));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = "adminup: true\nmtu: big\ninner:\n  count: 300\nlist: [1, x]\nmode: strikt\n";
        let (v, issues) = run(text);
        assert!(v.is_none());
        let got: Vec<(usize, &str, &str)> = issues
            .iter()
            .map(|i| (i.pos.line, i.path.as_str(), i.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    1,
                    "spec.adminup",
                    "unknown field `adminup`; did you mean `adminUp`?"
                ),
                (1, "spec.required", "required field `required` is missing"),
                (2, "spec.mtu", "expected an integer, found a string"),
                (4, "spec.inner.name", "required field `name` is missing"),
                (4, "spec.inner.count", "300 is out of range (0..=255)"),
                (5, "spec.list[1]", "expected an integer, found a string"),
                (
                    6,
                    "spec.mode",
                    "unknown value `strikt`, expected one of `strict`, `progressive`; did you mean `strict`?"
                ),
            ],
            "{issues:#?}"
        );
    }

    #[test]
    fn missing_field_path_names_the_field() {
        let (_, issues) = run("inner:\n  count: 1\nrequired: y\n");
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].path, "spec.inner.name");
    }

    #[test]
    fn numbers_are_strings_where_strings_are_wanted() {
        let (v, issues) = run("required: 1\n");
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(v.unwrap().required, "1");
    }

    #[test]
    fn empty_string_is_unset() {
        let (v, issues) = run("required: x\nmode: \"\"\n");
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(v.unwrap().mode, None);
    }
}
