//! Cutting a multi-document YAML file into its documents, as text, the one
//! way every reader does it: [`super::parse_manifests`] and real mode's kind
//! import (which copies documents into a lab's manifest file) both cut here,
//! so a document's lines are the same for both.
//!
//! A `---` line (the marker, then nothing or whitespace) opens a document
//! and belongs to it: what follows the marker on that line (`--- {a: 1}`,
//! `--- !!map`, `--- # note`) is the document's. A `...` line ends one and
//! is dropped. A byte-order mark before a marker is ignored.

/// One document of a file: its text and where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Document<'a> {
    line_offset: u64,
    text: &'a str,
}

impl<'a> Document<'a> {
    /// Lines of the file before the document's text.
    pub fn line_offset(&self) -> u64 {
        self.line_offset
    }

    /// The document's text, its opening `---` line included.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The text without an opening `---` line that carries nothing else
    /// (only whitespace or a comment), with the lines of the file before it.
    /// An opening line with content stays: that content is the document's.
    pub fn body(&self) -> (u64, &'a str) {
        let first_end = self.text.find('\n').map_or(self.text.len(), |i| i + 1);
        let first = &self.text[..first_end];
        let bare = is_marker(first, "---") && {
            let rest = first.trim_start_matches('\u{feff}')[3..].trim();
            rest.is_empty() || rest.starts_with('#')
        };
        if bare {
            (self.line_offset + 1, &self.text[first_end..])
        } else {
            (self.line_offset, self.text)
        }
    }
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.trim_start_matches('\u{feff}')
        .strip_prefix(marker)
        .is_some_and(|rest| rest.chars().next().is_none_or(char::is_whitespace))
}

/// Cuts `text` at document markers. Every document is returned, empty ones
/// too (before a first `---`, between two markers, after the last).
pub fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let (mut start, mut start_line, mut pos) = (0usize, 0u64, 0usize);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let i = i as u64;
        if is_marker(line, "---") {
            docs.push(Document {
                line_offset: start_line,
                text: &text[start..pos],
            });
            (start, start_line) = (pos, i);
        } else if is_marker(line, "...") {
            docs.push(Document {
                line_offset: start_line,
                text: &text[start..pos],
            });
            (start, start_line) = (pos + line.len(), i + 1);
        }
        pos += line.len();
    }
    docs.push(Document {
        line_offset: start_line,
        text: &text[start..],
    });
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(text: &str) -> Vec<(u64, &str)> {
        split_documents(text)
            .iter()
            .map(|d| (d.line_offset(), d.text()))
            .collect()
    }

    fn bodies(text: &str) -> Vec<(u64, &str)> {
        split_documents(text).iter().map(Document::body).collect()
    }

    #[test]
    fn markers_open_documents_and_stay_with_them() {
        let text = "a: 1\n---\nb: 2\n--- # two\nc: 3\n";
        assert_eq!(
            cut(text),
            vec![(0, "a: 1\n"), (1, "---\nb: 2\n"), (3, "--- # two\nc: 3\n")]
        );
        // What kind import copies: the content lines, bare markers dropped.
        assert_eq!(
            bodies(text),
            vec![(0, "a: 1\n"), (2, "b: 2\n"), (4, "c: 3\n")]
        );
    }

    #[test]
    fn a_file_opening_with_a_marker_has_an_empty_first_document() {
        let text = "---\napiVersion: v1\n---\n";
        assert_eq!(
            cut(text),
            vec![(0, ""), (0, "---\napiVersion: v1\n"), (2, "---\n")]
        );
        assert_eq!(
            bodies(text),
            vec![(0, ""), (1, "apiVersion: v1\n"), (3, "")]
        );
    }

    #[test]
    fn content_on_the_marker_line_is_the_documents() {
        let text = "--- {apiVersion: v1, kind: Namespace}\n--- !!map\nx: 1\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 3);
        assert_eq!(
            docs[1].body(),
            (0, "--- {apiVersion: v1, kind: Namespace}\n")
        );
        assert_eq!(docs[2].body(), (1, "--- !!map\nx: 1\n"));
    }

    #[test]
    fn an_end_marker_is_dropped_and_the_next_document_starts_after_it() {
        let text = "a: 1\n...\nb: 2\n...\n";
        assert_eq!(cut(text), vec![(0, "a: 1\n"), (2, "b: 2\n"), (4, "")]);
    }

    #[test]
    fn only_whole_markers_count() {
        // `---x`, `----` and an indented `---` are content; tab and CRLF
        // after a marker, and a byte-order mark before one, are not.
        let text = "a: ---\n---x: 1\n----\n  ---\n";
        assert_eq!(cut(text).len(), 1);
        let text = "\u{feff}---\r\na: 1\r\n---\tb\r\n";
        assert_eq!(
            cut(text),
            vec![(0, ""), (0, "\u{feff}---\r\na: 1\r\n"), (2, "---\tb\r\n")]
        );
        assert_eq!(bodies(text)[1], (1, "a: 1\r\n"));
        assert_eq!(bodies(text)[2], (2, "---\tb\r\n"));
    }

    #[test]
    fn text_without_a_final_newline_is_kept() {
        assert_eq!(
            cut("a: 1\n---\nb: 2"),
            vec![(0, "a: 1\n"), (1, "---\nb: 2")]
        );
        assert_eq!(cut(""), vec![(0, "")]);
    }
}
