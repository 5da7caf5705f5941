//! Errors with a file position.

use std::fmt;

/// A scenario problem at a position in a file (`line` and `col` are 1-based;
/// both are 0 for errors that have no position, such as I/O failures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// The text of the offending line (empty when there is no position),
    /// so the error can be shown with a caret without the file at hand.
    pub source_line: String,
}

impl ScenarioError {
    /// The error as a person reads it: `file:line:column: message`, then
    /// the offending line with a caret under the column (rendered by
    /// annotate-snippets, as compilers show theirs).
    pub fn render(&self) -> String {
        use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
        // A line too long to read (generated or corrupt input) is not
        // worth printing: the location says where it is.
        if self.line == 0 || self.source_line.is_empty() || self.source_line.len() > 500 {
            return self.to_string();
        }
        // The column counts characters; the span is in bytes.
        let at = self
            .source_line
            .char_indices()
            .nth(self.col.saturating_sub(1))
            .map_or(self.source_line.len(), |(i, _)| i);
        let width = self.source_line[at..]
            .chars()
            .next()
            .map_or(0, char::len_utf8);
        let report = &[Level::ERROR.primary_title(&self.message).element(
            Snippet::source(&self.source_line)
                .line_start(self.line)
                .path(self.file.as_str())
                .annotation(AnnotationKind::Primary.span(at..at + width)),
        )];
        Renderer::plain().render(report)
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

/// Maps byte offsets of a source text to 1-based line and column numbers.
/// Columns count characters, not bytes.
#[derive(Debug)]
pub(crate) struct LineMap<'a> {
    src: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineMap<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineMap { src, line_starts }
    }

    /// Line and column of byte offset `pos` (clamped to the text, and moved
    /// back to a character boundary).
    pub(crate) fn line_col(&self, pos: usize) -> (usize, usize) {
        let mut pos = pos.min(self.src.len());
        while !self.src.is_char_boundary(pos) {
            pos -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= pos);
        let start = self.line_starts[line - 1];
        let col = self.src[start..pos].chars().count() + 1;
        (line, col)
    }

    /// The text of 1-based line `line`, without its end of line.
    pub(crate) fn line_text(&self, line: usize) -> &'a str {
        let start = self.line_starts[line - 1];
        let end = self.line_starts.get(line).map_or(self.src.len(), |&e| e);
        self.src[start..end].trim_end_matches(['\n', '\r'])
    }
}
