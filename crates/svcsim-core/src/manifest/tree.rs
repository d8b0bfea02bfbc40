//! YAML text to a tree of nodes that know their line and column, built from saphyr's event
//! stream with hard limits: nesting depth and the number of nodes after alias expansion (so a
//! "billion laughs" file fails fast instead of exhausting memory).

use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A position in the source: 1-based line, 1-based column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl From<Span> for Pos {
    fn from(span: Span) -> Pos {
        Pos { line: span.start.line(), col: span.start.col() + 1 }
    }
}

/// One YAML node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// A YAML value. Scalars keep their text and whether they were quoted: a quoted `"80"` is a
/// string, a plain `80` an integer (the YAML 1.2 core schema).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { text: String, quoted: bool },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The node's type as an error message names it.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar { text, quoted: false } if is_null(text) => "null",
            Value::Scalar { text, quoted: false } if text.parse::<i64>().is_ok() => "an integer",
            Value::Scalar { text, quoted: false } if matches!(text.as_str(), "true" | "false") => "a boolean",
            Value::Scalar { .. } => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, quoted: false } if is_null(text))
    }
    fn count(&self) -> usize {
        match &self.value {
            Value::Scalar { .. } => 1,
            Value::Seq(items) => 1 + items.iter().map(Node::count).sum::<usize>(),
            Value::Map(entries) => 1 + entries.iter().map(|(k, v)| k.count() + v.count()).sum::<usize>(),
        }
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Limits that keep a browser tab alive.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nodes in all documents after aliases are expanded.
    pub max_nodes: usize,
    /// Nesting of sequences and mappings.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_nodes: 200_000, max_depth: 64 }
    }
}

/// Why the text is not a YAML stream svcsim can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub pos: Pos,
    pub message: String,
}

/// Parses a multi-document YAML (or JSON) stream into one tree per document.
pub fn parse(text: &str, limits: Limits) -> Result<Vec<Node>, ParseError> {
    let mut b = Builder { limits, docs: Vec::new(), stack: Vec::new(), anchors: Vec::new(), nodes: 0 };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| ParseError {
            pos: Pos { line: e.marker().line(), col: e.marker().col() + 1 },
            message: e.info().to_string(),
        })?;
        b.on_event(event, span)?;
    }
    Ok(b.docs)
}

enum Frame {
    Seq { pos: Pos, anchor: usize, items: Vec<Node> },
    Map { pos: Pos, anchor: usize, entries: Vec<(Node, Node)>, key: Option<Node> },
}

struct Builder {
    limits: Limits,
    docs: Vec<Node>,
    stack: Vec<Frame>,
    /// Anchored nodes by anchor id.
    anchors: Vec<Option<Node>>,
    nodes: usize,
}

impl Builder {
    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), ParseError> {
        let pos = Pos::from(span);
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::DocumentEnd => {
                Ok(())
            }
            Event::Scalar(text, style, anchor, _tag) => {
                self.count(1, pos)?;
                let quoted = !matches!(style, ScalarStyle::Plain);
                self.attach(Node { pos, value: Value::Scalar { text: text.into_owned(), quoted } }, anchor);
                Ok(())
            }
            Event::SequenceStart(anchor, _) => self.open(Frame::Seq { pos, anchor, items: Vec::new() }, pos),
            Event::MappingStart(anchor, _) => {
                self.open(Frame::Map { pos, anchor, entries: Vec::new(), key: None }, pos)
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop().expect("the parser balances starts and ends") {
                    Frame::Seq { pos, anchor, items } => (Node { pos, value: Value::Seq(items) }, anchor),
                    Frame::Map { pos, anchor, entries, .. } => (Node { pos, value: Value::Map(entries) }, anchor),
                };
                self.attach(node, anchor);
                Ok(())
            }
            Event::Alias(id) => {
                let Some(Some(target)) = self.anchors.get(id) else {
                    return Err(ParseError { pos, message: "alias to an unknown anchor".into() });
                };
                // Check the budget before copying: the copy is what a bomb multiplies.
                self.count(target.count(), pos)?;
                let mut copy = self.anchors[id].clone().expect("checked above");
                copy.pos = pos;
                self.attach(copy, 0);
                Ok(())
            }
        }
    }

    /// Every node is counted once, when it is created (an alias creates a copy).
    fn count(&mut self, nodes: usize, pos: Pos) -> Result<(), ParseError> {
        self.nodes += nodes;
        if self.nodes > self.limits.max_nodes {
            return Err(ParseError {
                pos,
                message: format!(
                    "the document expands to more than {} nodes (aliases are expanded; is this a \"billion laughs\" file?)",
                    self.limits.max_nodes
                ),
            });
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame, pos: Pos) -> Result<(), ParseError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(ParseError { pos, message: format!("nesting deeper than {} levels", self.limits.max_depth) });
        }
        self.count(1, pos)?;
        self.stack.push(frame);
        Ok(())
    }

    fn attach(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            if self.anchors.len() <= anchor {
                self.anchors.resize(anchor + 1, None);
            }
            self.anchors[anchor] = Some(node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n: &Node) -> String {
        match &n.value {
            Value::Scalar { text, quoted } => format!("{}{text}@{}", if *quoted { "'" } else { "" }, n.pos),
            Value::Seq(items) => format!("[{}]", items.iter().map(shape).collect::<Vec<_>>().join(", ")),
            Value::Map(entries) => format!(
                "{{{}}}",
                entries.iter().map(|(k, v)| format!("{}: {}", shape(k), shape(v))).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    #[test]
    fn documents_keep_positions_and_quoting() {
        let docs = parse("a: 1\nb: \"2\"\n---\n- x\n- {y: [3]}\n", Limits::default()).unwrap();
        let got: Vec<String> = docs.iter().map(shape).collect();
        assert_eq!(got, ["{a@1:1: 1@1:4, b@2:1: '2@2:4}", "[x@4:3, {y@5:4: [3@5:8]}]"]);
    }

    #[test]
    fn json_is_yaml() {
        let docs = parse(r#"{"kind": "Service", "spec": {"ports": [{"port": 80}]}}"#, Limits::default()).unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(shape(&docs[0]), "{'kind@1:2: 'Service@1:10, 'spec@1:21: {'ports@1:30: [{'port@1:41: 80@1:49}]}}");
    }

    #[test]
    fn aliases_expand_within_the_budget_and_bombs_are_refused() {
        let ok = parse("a: &x [1, 2]\nb: *x\n", Limits::default()).unwrap();
        assert_eq!(shape(&ok[0]), "{a@1:1: [1@1:8, 2@1:11], b@2:1: [1@1:8, 2@1:11]}");
        let mut bomb = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 0..9u8 {
            let (prev, next) = ((b'a' + i) as char, (b'a' + i + 1) as char);
            bomb.push_str(&format!(
                "{next}: &{next} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let err = parse(&bomb, Limits::default()).unwrap_err();
        assert!(err.message.contains("billion laughs"), "{err:?}");
    }

    #[test]
    fn syntax_errors_and_deep_nesting_name_their_place() {
        let err = parse("a: [1, 2\nb: 3\n", Limits::default()).unwrap_err();
        assert!(err.pos.line >= 1, "{err:?}");
        let deep = "[".repeat(100) + &"]".repeat(100);
        let err = parse(&deep, Limits::default()).unwrap_err();
        assert_eq!(err.message, "nesting deeper than 64 levels");
        assert_eq!(err.pos, Pos { line: 1, col: 65 });
    }
}
