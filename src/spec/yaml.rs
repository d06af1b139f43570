//! A small YAML tree where every node knows its place in the file, built from
//! saphyr-parser events. Anchors and aliases are refused (no alias bombs, and a
//! reader never has to chase a reference), tags are ignored, one document only.
use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span};

use super::error::{Location, SpecError};

/// Deepest nesting of maps and sequences accepted.
pub const MAX_DEPTH: usize = 64;

/// A YAML node with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Yaml {
    /// Where the node starts (for scalars: the whole scalar).
    pub at: Location,
    /// The node itself.
    pub value: Value,
}

/// The three YAML shapes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar; `plain` is false when it was quoted or a block scalar.
    Scalar {
        /// The scalar's text.
        text: String,
        /// Written without quotes (so it may be a number, boolean or null).
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Yaml>),
    /// A mapping, in file order, duplicates kept so decoders can name them.
    Map(Vec<Entry>),
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key's text.
    pub key: String,
    /// Where the key is.
    pub key_at: Location,
    /// The value.
    pub value: Yaml,
}

impl Yaml {
    /// True for an empty plain scalar, `~` or `null`.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A word for this node's shape, for "expected X, found Y" messages.
    pub fn shape(&self) -> &'static str {
        match &self.value {
            _ if self.is_null() => "nothing",
            Value::Scalar { plain: false, .. } => "a quoted string",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

/// Turns parser markers (character based) into byte offsets.
struct Locator<'a> {
    text: &'a str,
    /// Byte offset of each char index, only built for non-ASCII text.
    bytes: Option<Vec<usize>>,
    /// Number of lines (a final newline starts an empty last line).
    lines: usize,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str) -> Self {
        let bytes = (!text.is_ascii()).then(|| {
            let mut v: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            v.push(text.len());
            v
        });
        let lines = text.split('\n').count();
        Locator { text, bytes, lines }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.bytes {
            Some(v) => v.get(char_index).copied().unwrap_or(self.text.len()),
            None => char_index.min(self.text.len()),
        }
    }

    fn point(&self, m: &Marker) -> Location {
        let offset = self.byte(m.index());
        // At the end of the text the parser can count one line more than the
        // text has (found by fuzzing): then derive line and column from the offset.
        if m.line() > self.lines {
            let before = &self.text[..offset];
            let start = before.rfind('\n').map_or(0, |i| i + 1);
            return Location {
                line: before.matches('\n').count() + 1,
                column: before[start..].chars().count() + 1,
                offset,
                len: 0,
            };
        }
        Location {
            line: m.line().max(1),
            column: m.col() + 1,
            offset,
            len: 0,
        }
    }

    fn span(&self, s: &Span) -> Location {
        let mut at = self.point(&s.start);
        at.len = self.byte(s.end.index()).saturating_sub(at.offset);
        at
    }
}

enum Frame {
    Seq(Location, Vec<Yaml>),
    Map(Location, Vec<Entry>, Option<(String, Location)>),
}

fn anchor_error(text: &str, mut at: Location) -> SpecError {
    // The parser locates the anchored node, not the anchor: point at the `&`
    // written before it on the same line when there is one.
    let before = text.get(..at.offset).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    if let Some(amp) = before[line_start..].rfind('&') {
        let amp = line_start + amp;
        at.line = before[..line_start].matches('\n').count() + 1;
        at.column = before[line_start..amp].chars().count() + 1;
        at.offset = amp;
        at.len = text[amp..]
            .find(char::is_whitespace)
            .unwrap_or(text.len() - amp);
    }
    SpecError::new(
        at,
        "anchors and aliases are not supported",
        Some("write the value out in full where it is used".into()),
    )
}

/// A YAML syntax error at `at`. Inside a flow collection still open (a
/// `[` or `{` whose end the parser has not met), the error names where it
/// was opened: a bracket left unclosed is found only where the parser gives
/// up, often lines later or at the end of the file.
fn syntax_error(src: &str, at: Location, info: &str, stack: &[Frame]) -> SpecError {
    let open = stack.iter().rev().find_map(|f| {
        let start = match f {
            Frame::Seq(start, _) | Frame::Map(start, ..) => *start,
        };
        let c = src.get(start.offset..)?.chars().next()?;
        matches!(c, '[' | '{').then_some((c, start))
    });
    match open {
        None => SpecError::new(at, format!("YAML syntax error: {info}"), None),
        Some((c, start)) => {
            let close = if c == '[' { ']' } else { '}' };
            SpecError::new(
                at,
                format!(
                    "YAML syntax error: {info}; the `{c}` opened at line {}, column {} is not closed before this",
                    start.line, start.column
                ),
                Some(format!(
                    "close it with `{close}` where its {} ends (the `{c}` at {}:{})",
                    if c == '[' { "list" } else { "map" },
                    start.line,
                    start.column
                )),
            )
        }
    }
}

/// Parses `text` into one tree. YAML syntax errors stop parsing, so at most one is reported.
pub fn parse(text: &str) -> Result<Yaml, SpecError> {
    let src = text;
    let loc = Locator::new(text);
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Yaml> = None;
    let mut documents = 0usize;
    while let Some(next) = parser.next_event() {
        let (event, span) =
            next.map_err(|e| syntax_error(src, loc.point(e.marker()), e.info(), &stack))?;
        let at = loc.span(&span);
        let done = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(SpecError::new(
                        at,
                        "a topology file holds one YAML document",
                        Some("remove the `---` and everything after it, or split the file".into()),
                    ));
                }
                None
            }
            Event::Alias(_) => return Err(anchor_error(src, at)),
            Event::Scalar(text, style, anchor, _) => {
                if anchor != 0 {
                    return Err(anchor_error(src, at));
                }
                Some(Yaml {
                    at,
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                })
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if anchor != 0 {
                    return Err(anchor_error(src, at));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(SpecError::new(
                        at,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                        Some("a topology never needs this much nesting".into()),
                    ));
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq(at, Vec::new())
                } else {
                    Frame::Map(at, Vec::new(), None)
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(at, items)) => Some(Yaml {
                    at,
                    value: Value::Seq(items),
                }),
                Some(Frame::Map(at, entries, _)) => Some(Yaml {
                    at,
                    value: Value::Map(entries),
                }),
                None => None,
            },
        };
        if let Some(node) = done {
            match stack.last_mut() {
                None => root = Some(node),
                Some(Frame::Seq(_, items)) => items.push(node),
                Some(Frame::Map(_, entries, pending)) => match pending.take() {
                    Some((key, key_at)) => entries.push(Entry {
                        key,
                        key_at,
                        value: node,
                    }),
                    None => match node.value {
                        Value::Scalar { text, .. } => *pending = Some((text, node.at)),
                        _ => {
                            return Err(SpecError::new(
                                node.at,
                                "a map key must be a plain word, not a list or map",
                                None,
                            ))
                        }
                    },
                },
            }
        }
    }
    root.ok_or_else(|| {
        SpecError::new(
            Location {
                line: 1,
                column: 1,
                offset: 0,
                len: 0,
            },
            "the file is empty",
            None,
        )
    })
}

/// The top-level `name` of a document that is a map, read from the events
/// up to it and no further. `None` when the document is anything else, has
/// no such key, gives it a list or map, or shows before it something
/// [`parse`] refuses (a syntax error, an anchor or alias, deep nesting).
pub fn top_level_name(text: &str) -> Option<String> {
    let mut parser = Parser::new_from_str(text);
    // Open maps and sequences; the root map is depth 1, where scalars
    // alternate between key and value.
    let mut depth = 0usize;
    let mut want_key = true;
    let mut is_name = false;
    while let Some(Ok((event, _))) = parser.next_event() {
        match event {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => {}
            Event::Scalar(text, _, 0, _) => match depth {
                0 => return None,
                1 if want_key => {
                    is_name = text == "name";
                    want_key = false;
                }
                1 if is_name => return Some(text.into_owned()),
                1 => want_key = true,
                _ => {}
            },
            Event::MappingStart(0, _) | Event::SequenceStart(0, _) => {
                let root_list = depth == 0 && matches!(event, Event::SequenceStart(..));
                // At depth 1 a collection is a complex key or `name`'s value.
                if root_list || (depth == 1 && (want_key || is_name)) || depth >= MAX_DEPTH {
                    return None;
                }
                depth += 1;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                depth = depth.saturating_sub(1);
                match depth {
                    0 => return None,
                    1 => want_key = true,
                    _ => {}
                }
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {

    /// An unclosed `[` or `{` is named where it was opened, also when the
    /// parser gives up lines later or at the end of the file.
    #[test]
    fn an_unclosed_bracket_is_named_where_it_opened() {
        for (text, at, opened) in [
            (
                "name: x\nnodes:\n  a: {interfaces: [\n",
                (4, 1),
                "`[` opened at line 3, column 19",
            ),
            (
                "name: x\nnodes:\n  a: {interfaces: [d0\n  b: {}\n",
                (5, 1),
                "`[` opened at line 3, column 19",
            ),
            (
                "name: x\nnodes:\n  a: { interfaces: { d0: { kind: dummy }\n  b: {}\n",
                (4, 3),
                "`{` opened at line 3, column 20",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!((e.at.line, e.at.column), at, "{text:?}: {e:?}");
            assert!(e.message.contains(opened), "{text:?}: {}", e.message);
            assert!(
                e.help
                    .as_deref()
                    .is_some_and(|h| h.starts_with("close it with")),
                "{e:?}"
            );
        }
        // A syntax error outside any flow collection says nothing of brackets.
        let e = parse("a: b: c\n").unwrap_err();
        assert!(!e.message.contains("opened"), "{}", e.message);
    }

    #[test]
    fn top_level_name_is_read_without_the_rest() {
        use super::top_level_name as name;
        assert_eq!(name("name: lab\nnodes: {}\n").as_deref(), Some("lab"));
        // After nested values, quoted, and before a syntax error further on.
        let text =
            "nodes:\n  c1:\n    name: inner\n    x: [1, {a: b}]\nname: \"lab\"\nlinks: [oops\n";
        assert_eq!(name(text).as_deref(), Some("lab"));
        for refused in [
            "nodes: {}\n",             // no name
            "nodes:\n  name: inner\n", // only a nested one
            "name: [a]\n",             // not a scalar
            "- name: lab\n",           // not a map
            "x: &a 1\nname: lab\n",    // an anchor before it
            "x: [oops\nname: lab\n",   // a syntax error before it
            "lab\n",                   // a scalar document
            "",
        ] {
            assert_eq!(name(refused), None, "{refused:?}");
        }
    }

    use super::*;

    fn map(y: &Yaml) -> &[Entry] {
        match &y.value {
            Value::Map(m) => m,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn locations_are_one_based_with_byte_offsets() {
        let y = parse("a: 1\nbb:\n  - x\n").unwrap();
        let m = map(&y);
        assert_eq!(m[0].key, "a");
        assert_eq!(
            (m[0].key_at.line, m[0].key_at.column, m[0].key_at.offset),
            (1, 1, 0)
        );
        assert_eq!((m[1].key_at.line, m[1].key_at.column), (2, 1));
        let Value::Seq(items) = &m[1].value.value else {
            panic!()
        };
        assert_eq!(
            (
                items[0].at.line,
                items[0].at.column,
                items[0].at.offset,
                items[0].at.len
            ),
            (3, 5, 13, 1)
        );
    }

    #[test]
    fn non_ascii_text_gets_byte_offsets() {
        let y = parse("é: 1\nb: x\n").unwrap();
        let m = map(&y);
        assert_eq!(m[1].key_at.offset, 6);
        assert_eq!(m[1].value.at.offset, 9);
    }

    #[test]
    fn duplicates_are_kept_for_decoders() {
        let y = parse("a: 1\na: 2\n").unwrap();
        assert_eq!(map(&y).len(), 2);
    }

    #[test]
    fn anchors_and_aliases_are_refused_where_written() {
        let e = parse("a: &x [1]\nb: *x\n").unwrap_err();
        assert!(e.message.contains("anchors and aliases"));
        assert_eq!(e.at.line, 1);
        let e = parse("a: 1\nb: *x\n").unwrap_err();
        assert!(e.message.contains("syntax") || e.message.contains("anchors"));
    }

    #[test]
    fn syntax_errors_and_empty_files_are_located() {
        let e = parse("a: [1, 2\n").unwrap_err();
        assert!(e.message.starts_with("YAML syntax error"));
        assert_eq!(parse("").unwrap_err().message, "the file is empty");
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&text).unwrap_err().message.contains("nesting"));
    }

    #[test]
    fn quoted_scalars_are_not_plain() {
        let y = parse("a: 'true'\nb: true\nc:\n").unwrap();
        let m = map(&y);
        assert!(matches!(
            m[0].value.value,
            Value::Scalar { plain: false, .. }
        ));
        assert!(matches!(
            m[1].value.value,
            Value::Scalar { plain: true, .. }
        ));
        assert!(m[2].value.is_null());
    }
}
