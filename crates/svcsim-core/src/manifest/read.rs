//! Typed reading of YAML nodes: mappings that remember which keys were read (the rest become
//! "not modelled" warnings), scalars converted with a message that says what was expected, and
//! every field's position recorded so later checks can point at it.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use super::tree::{Node, Pos, Value};
use crate::net::IpCidr;
use crate::time::Duration;

/// What a field svcsim reads past says.
pub const NOT_MODELLED: &str = "not modelled by svcsim: ignored";

/// What follows an image svcsim does not know the app of.
pub const UNKNOWN_IMAGE: &str =
    " is not an app svcsim knows: it runs the default, nodejs (the svcsim.dev/app annotation chooses nodejs or echo)";

/// Error, warning, or a note: something svcsim handles as documented, said once so nobody
/// wonders (a headless Service skipped, the default app run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// 1-based document index, if the problem is inside a document.
    pub doc: Option<usize>,
    /// `Service node-service`, when the document's kind and name are known.
    pub object: Option<String>,
    /// YAML path inside the document, e.g. `spec.ports[0].nodePort`.
    pub path: String,
    pub pos: Option<Pos>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `12:17: error: doc 3 (Service node-service) spec.ports[0].nodePort: 99999 is outside 30000-32767`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(pos) = self.pos {
            write!(f, "{pos}: ")?;
        }
        f.write_str(match self.severity {
            Severity::Error => "error: ",
            Severity::Warning => "warning: ",
            Severity::Note => "note: ",
        })?;
        if let Some(doc) = self.doc {
            write!(f, "doc {doc} ")?;
            if let Some(obj) = &self.object {
                write!(f, "({obj}) ")?;
            }
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Collects diagnostics for one document and where its fields are.
pub struct Cx<'d> {
    pub diags: &'d mut Vec<Diagnostic>,
    pub doc: Option<usize>,
    pub object: Option<String>,
    /// Every field read, by path.
    pub positions: BTreeMap<String, Pos>,
}

impl<'d> Cx<'d> {
    pub fn new(diags: &'d mut Vec<Diagnostic>, doc: Option<usize>) -> Cx<'d> {
        Cx { diags, doc, object: None, positions: BTreeMap::new() }
    }
    pub fn error(&mut self, path: &str, pos: Pos, message: impl Into<String>) {
        self.push(Severity::Error, path, Some(pos), message.into());
    }
    pub fn warn(&mut self, path: &str, pos: Pos, message: impl Into<String>) {
        self.push(Severity::Warning, path, Some(pos), message.into());
    }
    pub fn note(&mut self, path: &str, pos: Pos, message: impl Into<String>) {
        self.push(Severity::Note, path, Some(pos), message.into());
    }
    pub fn push(&mut self, severity: Severity, path: &str, pos: Option<Pos>, message: String) {
        self.diags.push(Diagnostic {
            severity,
            doc: self.doc,
            object: self.object.clone(),
            path: path.to_string(),
            pos,
            message,
        });
    }
    /// The position of `path`, or of its closest recorded parent.
    pub fn pos_of(&self, path: &str) -> Option<Pos> {
        let mut p = path;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// A mapping being read: keys that are never asked for are reported as not modelled.
pub struct Map<'n> {
    pub node: &'n Node,
    pub path: String,
    entries: &'n [(Node, Node)],
    used: Vec<bool>,
}

impl<'n> Map<'n> {
    /// Views `node` as a mapping, or reports that it is not one.
    pub fn new(cx: &mut Cx<'_>, node: &'n Node, path: &str) -> Option<Map<'n>> {
        cx.positions.insert(path.to_string(), node.pos);
        match &node.value {
            Value::Map(entries) => {
                Some(Map { node, path: path.to_string(), entries, used: vec![false; entries.len()] })
            }
            _ if node.is_null() => Some(Map { node, path: path.to_string(), entries: &[], used: Vec::new() }),
            _ => {
                cx.error(path, node.pos, format!("expected a mapping, found {}", node.type_name()));
                None
            }
        }
    }

    /// The path of a child key.
    pub fn child(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) }
    }

    /// The value of `key`, if present (and not null); records its position.
    pub fn get(&mut self, cx: &mut Cx<'_>, key: &str) -> Option<&'n Node> {
        let idx =
            self.entries.iter().position(|(k, _)| matches!(&k.value, Value::Scalar { text, .. } if text == key))?;
        self.used[idx] = true;
        let value = &self.entries[idx].1;
        cx.positions.insert(self.child(key), value.pos);
        (!value.is_null()).then_some(value)
    }

    /// The value of `key`, without marking it read.
    pub fn peek(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(k, _)| matches!(&k.value, Value::Scalar { text, .. } if text == key)).map(|(_, v)| v)
    }

    /// Every entry as (key text, value), marking all as read.
    pub fn entries(&mut self) -> Vec<(String, &'n Node, &'n Node)> {
        self.used.iter_mut().for_each(|u| *u = true);
        self.entries
            .iter()
            .map(|(k, v)| {
                let key = match &k.value {
                    Value::Scalar { text, .. } => text.clone(),
                    _ => String::new(),
                };
                (key, k, v)
            })
            .collect()
    }

    /// Marks every key as read: the rest of this mapping is deliberately not looked at.
    pub fn skip_rest(&mut self) {
        self.used.iter_mut().for_each(|u| *u = true);
    }

    /// Reports the keys nobody read.
    pub fn finish(self, cx: &mut Cx<'_>) {
        for ((k, _), used) in self.entries.iter().zip(&self.used) {
            if !used {
                let key = match &k.value {
                    Value::Scalar { text, .. } => text.clone(),
                    _ => "?".into(),
                };
                cx.warn(&self.child(&key), k.pos, NOT_MODELLED);
            }
        }
    }
}

/// The items of a sequence, or a report that it is not one.
pub fn seq<'n>(cx: &mut Cx<'_>, node: &'n Node, path: &str) -> &'n [Node] {
    match &node.value {
        Value::Seq(items) => items,
        _ => {
            cx.error(path, node.pos, format!("expected a list, found {}", node.type_name()));
            &[]
        }
    }
}

pub fn string(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<String> {
    match &node.value {
        Value::Scalar { text, .. } => Some(text.clone()),
        _ => {
            cx.error(path, node.pos, format!("expected a string, found {}", node.type_name()));
            None
        }
    }
}

pub fn integer(cx: &mut Cx<'_>, node: &Node, path: &str, min: i64, max: i64) -> Option<i64> {
    match &node.value {
        Value::Scalar { text, quoted: false } => match text.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            Ok(n) => {
                cx.error(path, node.pos, format!("{n} is outside {min}-{max}"));
                None
            }
            Err(_) => {
                cx.error(path, node.pos, format!("expected an integer, found {:?}", text));
                None
            }
        },
        _ => {
            cx.error(path, node.pos, format!("expected an integer, found {}", node.type_name()));
            None
        }
    }
}

pub fn port(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<u16> {
    integer(cx, node, path, 1, 65535).map(|n| n as u16)
}

pub fn boolean(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<bool> {
    match &node.value {
        Value::Scalar { text, quoted: false } if text == "true" || text == "True" => Some(true),
        Value::Scalar { text, quoted: false } if text == "false" || text == "False" => Some(false),
        _ => {
            cx.error(path, node.pos, format!("expected true or false, found {}", node.type_name()));
            None
        }
    }
}

/// One of `allowed` (exact spelling, as the API server requires).
pub fn one_of(cx: &mut Cx<'_>, node: &Node, path: &str, allowed: &[&str]) -> Option<String> {
    let s = string(cx, node, path)?;
    if allowed.contains(&s.as_str()) {
        Some(s)
    } else {
        cx.error(path, node.pos, format!("{s:?} is not one of {}", allowed.join(", ")));
        None
    }
}

/// An IP address of either family (`10.0.0.1`, `fd00::1`).
pub fn ip(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<IpAddr> {
    let s = string(cx, node, path)?;
    match s.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            cx.error(path, node.pos, format!("{s:?} is not an IP address"));
            None
        }
    }
}

/// A prefix of either family with its host bits cleared.
pub fn cidr(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<IpCidr> {
    let s = string(cx, node, path)?;
    match s.parse() {
        Ok(c) => Some(c),
        Err(e) => {
            cx.error(path, node.pos, e.to_string());
            None
        }
    }
}

/// One value or two of different families, comma-separated as Kubernetes' flags write them
/// (`10.244.0.0/16,fd12:3456:789a::/64`; `10.240.0.4,2001:db8::4`): the first family's first.
/// Each part is read with `parse`, whose error names the part.
pub fn dual<T>(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    parse: impl Fn(&str) -> Result<T, String>,
    family: impl Fn(&T) -> crate::net::IpFamily,
) -> Option<(T, Option<T>)> {
    let s = string(cx, node, path)?;
    let mut parts = Vec::new();
    for part in s.split(',').map(str::trim) {
        match parse(part) {
            Ok(v) => parts.push(v),
            Err(e) => {
                cx.error(path, node.pos, e);
                return None;
            }
        }
    }
    match parts.len() {
        1 => parts.pop().map(|v| (v, None)),
        2 if family(&parts[0]) != family(&parts[1]) => {
            let second = parts.pop();
            parts.pop().map(|first| (first, second))
        }
        2 => {
            let message = format!(
                "{s:?}: two values of one family; a dual-stack value is one of each, e.g. 10.240.0.4,2001:db8::4"
            );
            cx.error(path, node.pos, message);
            None
        }
        _ => {
            cx.error(path, node.pos, format!("{s:?}: at most two comma-separated values, one per IP family"));
            None
        }
    }
}

/// Reads an address for [`dual`].
pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("{s:?} is not an IP address"))
}

/// Reads a prefix for [`dual`].
pub fn parse_cidr(s: &str) -> Result<IpCidr, String> {
    s.parse::<IpCidr>().map_err(|e| e.to_string())
}

/// `120s`, `2m`, `1m30s`, `500ms`, `1h` (Go's duration syntax, without fractions).
pub fn duration(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Duration> {
    let s = string(cx, node, path)?;
    match parse_duration(&s) {
        Some(d) => Some(d),
        None => {
            cx.error(path, node.pos, format!("{s:?} is not a duration (e.g. 90s, 2m, 1m30s, 500ms)"));
            None
        }
    }
}

/// Parses Go-style durations; `None` if malformed or longer than a day.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (1_000, 2)
        } else if rest.starts_with('h') {
            (3_600_000_000, 1)
        } else if rest.starts_with('m') {
            (60_000_000, 1)
        } else if rest.starts_with('s') {
            (1_000_000, 1)
        } else {
            return None;
        };
        rest = &rest[len..];
        total = total.checked_add(n.checked_mul(unit)?)?;
        if total > 86_400_000_000 {
            return None;
        }
    }
    Some(Duration::from_micros(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_go_syntax() {
        assert_eq!(parse_duration("120s"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "s", "10", "10x", "-5s", "999999h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
