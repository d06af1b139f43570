//! Located problems of an imported file: each points at its text in the file
//! it stands in (an import reads several files through `source`), rendered
//! like the topology file's own errors (`[file:line:column]`).
use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, SourceCode};

use crate::spec::Location;

/// One file read by an import, shared by the problems found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The path as shown in messages.
    pub path: String,
    /// The file's text.
    pub text: String,
}

/// A place in one of the files read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The file.
    pub source: Arc<Source>,
    /// The text at fault.
    pub at: Location,
}

impl Place {
    /// `path:line` for comments and lists.
    pub fn short(&self) -> String {
        format!("{}:{}", self.source.path, self.at.line)
    }
}

impl fmt::Display for Place {
    /// `path:line:column`, as compilers print a place.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.source.path, self.at.line, self.at.column
        )
    }
}

/// One problem: where, what is wrong, and what would be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ImportError {
    /// Where; `None` when no file could be read at all.
    pub place: Option<Place>,
    /// What is wrong.
    pub message: String,
    /// What would be right, when it can be told.
    pub help: Option<String>,
}

impl ImportError {
    /// A problem at `place`.
    pub fn at(place: Place, message: impl Into<String>, help: Option<String>) -> Self {
        ImportError {
            place: Some(place),
            message: message.into(),
            help,
        }
    }

    /// A problem with no place in any file (the first file cannot be read).
    pub fn nowhere(message: impl Into<String>) -> Self {
        ImportError {
            place: None,
            message: message.into(),
            help: None,
        }
    }
}

impl Diagnostic for ImportError {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.place
            .as_ref()
            .map(|p| p.source.as_ref() as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let p = self.place.as_ref()?;
        let span = LabeledSpan::new_with_span(Some("here".into()), (p.at.offset, p.at.len));
        Some(Box::new(std::iter::once(span)))
    }
}

/// Every problem found, in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportErrors {
    /// What the import was asked to read (for the heading).
    pub what: String,
    /// The problems.
    pub errors: Vec<ImportError>,
}

impl ImportErrors {
    /// The problems as JSON: `[{file, line, column, message, help}]`.
    pub fn to_json(&self) -> serde_json::Value {
        let list = self
            .errors
            .iter()
            .map(|e| {
                let p = e.place.as_ref();
                serde_json::json!({
                    "file": p.map(|p| p.source.path.clone()),
                    "line": p.map(|p| p.at.line),
                    "column": p.map(|p| p.at.column),
                    "message": e.message,
                    "help": e.help,
                })
            })
            .collect();
        serde_json::Value::Array(list)
    }
}

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{}: {n} problem{}",
            self.what,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for ImportErrors {}

impl Diagnostic for ImportErrors {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.errors.iter().map(|e| e as &dyn Diagnostic)))
    }
}

/// The text, named by its path, so a rendered problem reads
/// `[path:line:column]` with the column in characters (as [`Location`]).
impl SourceCode for Source {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self.text.read_span(span, before, after)?;
        let column = match self.text.get(..span.offset()) {
            Some(head) if before == 0 => {
                let line_start = head.rfind('\n').map_or(0, |i| i + 1);
                head[line_start..].chars().count()
            }
            _ => inner.column(),
        };
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.path.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            column,
            inner.line_count(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_renders_with_its_file_line_and_column() {
        let source = Arc::new(Source {
            path: "interfaces".into(),
            text: "auto eth0\niface eth0 inet statik\n".into(),
        });
        let at = crate::spec::text::locate(&source.text, 26, 6);
        let e = ImportErrors {
            what: "interfaces".into(),
            errors: vec![ImportError::at(
                Place {
                    source: source.clone(),
                    at,
                },
                "unknown method `statik`",
                None,
            )],
        };
        let shown = format!(
            "{:?}",
            miette::Report::new(e.clone()).with_source_code(String::new())
        );
        assert!(shown.contains("interfaces:2:17"), "{shown}");
        assert_eq!(e.to_json()[0]["line"], 2);
        assert_eq!(e.to_json()[0]["column"], 17);
    }
}
