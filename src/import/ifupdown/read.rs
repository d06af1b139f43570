//! Reading interfaces(5) files into logical lines: whole-line comments
//! dropped, `\` continuations joined, every byte of a line traced back to
//! its place in its file (as ifupdown's `get_line` in config.c reads them).
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::import::error::{ImportError, Place, Source};
use crate::spec::Location;

/// Largest file read, in bytes (as a topology file).
pub const MAX_FILE_BYTES: usize = crate::spec::MAX_FILE_BYTES;

/// A run of bytes in one of the files read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// Index of the file in [`Files`].
    pub file: usize,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
}

/// A word of a line and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The text.
    pub text: String,
    /// Where.
    pub span: Span,
}

/// The files read so far, in reading order, with their line starts.
#[derive(Debug, Default)]
pub struct Files {
    list: Vec<(Arc<Source>, Vec<usize>)>,
}

impl Files {
    /// Keep a file; its index.
    pub fn add(&mut self, path: String, text: String) -> usize {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        self.list.push((Arc::new(Source { path, text }), starts));
        self.list.len() - 1
    }

    /// The file at `index`.
    pub fn source(&self, index: usize) -> &Arc<Source> {
        &self.list[index].0
    }

    /// How many files were read.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether no file was read.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The place of `span`, with line and column.
    pub fn place(&self, span: Span) -> Place {
        let (source, starts) = &self.list[span.file];
        let line = starts.partition_point(|&s| s <= span.start);
        let first = starts[line - 1];
        let column = source.text[first..span.start].chars().count() + 1;
        Place {
            source: source.clone(),
            at: Location {
                line,
                column,
                offset: span.start,
                len: span.len,
            },
        }
    }

    /// `path:line` of `span`, for comments.
    pub fn short(&self, span: Span) -> String {
        self.place(span).short()
    }

    /// An error at `span`.
    pub fn error(&self, span: Span, message: impl Into<String>, help: Option<&str>) -> ImportError {
        ImportError::at(self.place(span), message, help.map(str::to_string))
    }
}

/// One logical line: its text and, per byte, the offset in its file.
#[derive(Debug, Clone)]
pub struct Line {
    /// The file.
    pub file: usize,
    /// The text, continuations joined, outer whitespace trimmed.
    pub text: String,
    /// File offset of each byte of `text`.
    map: Vec<usize>,
}

impl Line {
    /// The span of `text[start..end]`.
    pub fn span(&self, start: usize, end: usize) -> Span {
        let first = self.map[start];
        let last = if end > start {
            self.map[end - 1] + 1
        } else {
            first
        };
        Span {
            file: self.file,
            start: first,
            len: last - first,
        }
    }

    /// The span of the whole line.
    pub fn whole(&self) -> Span {
        self.span(0, self.text.len())
    }

    /// The words, split at whitespace as C's `isspace`.
    pub fn words(&self) -> Vec<Word> {
        let mut out = Vec::new();
        let b = self.text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && is_space(b[i]) {
                i += 1;
            }
            let s = i;
            while i < b.len() && !is_space(b[i]) {
                i += 1;
            }
            if i > s {
                out.push(Word {
                    text: self.text[s..i].to_string(),
                    span: self.span(s, i),
                });
            }
        }
        out
    }

    /// The text after the first word (trimmed) and where it starts; `None`
    /// when there is nothing after it.
    pub fn rest(&self) -> Option<(String, Span)> {
        let b = self.text.as_bytes();
        let mut i = 0;
        while i < b.len() && !is_space(b[i]) {
            i += 1;
        }
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        (i < b.len()).then(|| (self.text[i..].to_string(), self.span(i, b.len())))
    }
}

/// Append `s` (found at file offset `base`) to a logical line.
fn push(s: &str, base: usize, text: &mut String, map: &mut Vec<usize>) {
    text.push_str(s);
    map.extend((0..s.len()).map(|k| base + k));
}

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// The logical lines of `text` (file index `file`), as ifupdown reads
/// them: a line whose first non-blank character is `#` is a comment (only
/// at the start of a logical line: a continued line is never one), a `\`
/// as the very last character joins the next line, then trailing blanks go.
pub fn lines(file: usize, text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut phys: Vec<(usize, &str)> = Vec::new();
    let mut at = 0;
    for l in text.split_inclusive('\n') {
        let body = l.strip_suffix('\n').unwrap_or(l);
        phys.push((at, body));
        at += l.len();
    }
    let mut i = 0;
    while i < phys.len() {
        let (off, body) = phys[i];
        i += 1;
        let lead = body.len()
            - body
                .trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8))
                .len();
        if body[lead..].starts_with('#') {
            continue;
        }
        let mut text = String::new();
        let mut map = Vec::new();
        let mut cur = &body[lead..];
        let mut base = off + lead;
        loop {
            match cur.strip_suffix('\\') {
                Some(head) => {
                    push(head, base, &mut text, &mut map);
                    match phys.get(i) {
                        Some(&(o, b)) => {
                            i += 1;
                            cur = b;
                            base = o;
                        }
                        None => break,
                    }
                }
                None => {
                    push(cur, base, &mut text, &mut map);
                    break;
                }
            }
        }
        let keep = text
            .trim_end_matches(|c: char| c.is_ascii() && is_space(c as u8))
            .len();
        text.truncate(keep);
        map.truncate(keep);
        if !text.is_empty() {
            out.push(Line { file, text, map });
        }
    }
    out
}

/// Read `path` as text: refused when too large, not UTF-8, or holding a
/// NUL (C's string functions would stop there), located where possible.
pub fn read_text(
    files: &Files,
    path: &Path,
    shown: &str,
    from: Option<Span>,
) -> Result<String, ImportError> {
    let fail = |message: String| match from {
        Some(s) => files.error(s, message, None),
        None => ImportError::nowhere(message),
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read {shown}: {e}")))?;
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(fail(format!(
            "{shown} is {} bytes; at most {MAX_FILE_BYTES} are read",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read {shown}: {e}")))?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let shown_text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let source = Arc::new(Source {
                path: shown.to_string(),
                text: shown_text.clone(),
            });
            return Err(ImportError::at(
                Place {
                    source,
                    at: crate::spec::text::locate(&shown_text, at, '\u{fffd}'.len_utf8()),
                },
                format!(
                    "{shown} is not UTF-8: byte 0x{:02x} here does not belong to a UTF-8 character",
                    e.as_bytes()[at]
                ),
                Some("ifupdown reads names and values as text: save the file as UTF-8".into()),
            ));
        }
    };
    if let Some(at) = text.find('\0') {
        let source = Arc::new(Source {
            path: shown.to_string(),
            text: text.clone(),
        });
        return Err(ImportError::at(
            Place {
                source,
                at: crate::spec::text::locate(&text, at, 1),
            },
            format!("{shown} holds a NUL byte"),
            Some("ifupdown stops reading a line at a NUL: remove it".into()),
        ));
    }
    Ok(text)
}

/// Where a path the file names is read from: relative paths are relative to
/// the directory of the file naming them (interfaces(5)), absolute ones are
/// under `root` when one is given. Returns (path to read, path to show).
pub fn resolve(root: Option<&Path>, including: &str, named: &str) -> (PathBuf, String) {
    let shown = if named.starts_with('/') {
        named.to_string()
    } else {
        let dir = Path::new(including)
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        if dir.is_empty() {
            named.to_string()
        } else {
            format!("{dir}/{named}")
        }
    };
    (on_disk(root, &shown), shown)
}

/// The path on disk of a path as shown: under `root` when it is absolute.
pub fn on_disk(root: Option<&Path>, shown: &str) -> PathBuf {
    match (root, shown.strip_prefix('/')) {
        (Some(r), Some(rel)) => r.join(rel),
        _ => PathBuf::from(shown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<String> {
        lines(0, src).into_iter().map(|l| l.text).collect()
    }

    #[test]
    fn comments_blanks_and_continuations_are_read_as_ifupdown_does() {
        let src = "# top\n  auto eth0   \n\niface eth0 inet static\n\taddress 10.0.0.1/24 \\\n   # not a comment\n  # a comment \\\nmtu 1500\\";
        assert_eq!(
            texts(src),
            vec![
                "auto eth0",
                "iface eth0 inet static",
                "address 10.0.0.1/24    # not a comment",
                "mtu 1500"
            ]
        );
    }

    #[test]
    fn every_word_knows_its_place_across_continuations() {
        let src = "iface br0 inet manual\n  bridge_ports eth0 \\\n    eth1\n";
        let mut files = Files::default();
        let f = files.add("interfaces".into(), src.into());
        let ls = lines(f, src);
        let w = ls[1].words();
        assert_eq!(w[2].text, "eth1");
        let p = files.place(w[2].span);
        assert_eq!((p.at.line, p.at.column), (3, 5));
        let (rest, span) = ls[1].rest().unwrap();
        assert_eq!(rest, "eth0     eth1");
        assert_eq!(files.place(span).at.column, 16);
    }

    #[test]
    fn relative_paths_are_relative_to_the_including_file() {
        let root = Path::new("/mnt");
        let (disk, shown) = resolve(Some(root), "/etc/network/interfaces", "interfaces.d/*");
        assert_eq!(shown, "/etc/network/interfaces.d/*");
        assert_eq!(disk, PathBuf::from("/mnt/etc/network/interfaces.d/*"));
        let (disk, shown) = resolve(None, "lab/interfaces", "/etc/x");
        assert_eq!((disk, shown.as_str()), (PathBuf::from("/etc/x"), "/etc/x"));
        assert_eq!(resolve(None, "interfaces", "more").1, "more");
    }
}
