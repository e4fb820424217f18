//! A policy's text, kept so every error can quote the line it points at.
//!
//! Policies are parsed with `marked_yaml`, which keeps the position of every
//! node. serde_yaml only knows positions while parsing, so it cannot point at
//! an unknown field inside a condition or at a `$param` that is not defined:
//! errors that are found after the YAML is read.

use crate::error::{Diagnostic, Location};
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{Node, Span};
use std::path::PathBuf;

/// The text of a policy file, and the diagnostics found while reading it.
pub struct Source {
    pub path: PathBuf,
    pub text: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl Source {
    pub fn new(path: impl Into<PathBuf>, text: String) -> Self {
        Source {
            path: path.into(),
            text,
            diagnostics: Vec::new(),
        }
    }

    pub fn location(&self, span: &Span) -> Location {
        let (line, column) = span
            .start()
            .map(|m| (m.line(), m.column()))
            .unwrap_or((1, 1));
        Location::new(self.path.clone(), line, column)
    }

    /// Where `node` is, as [`Source::error`] points at it: a mapping at its first key.
    pub fn node_location(&self, node: &Node) -> Location {
        match node {
            Node::Mapping(m) => match m.keys().next() {
                Some(k) => self.location(k.span()),
                None => self.location(node.span()),
            },
            _ => self.location(node.span()),
        }
    }

    /// A diagnostic pointing at `span`, underlining `width` characters.
    pub fn diagnostic(&self, span: &Span, width: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(message).at_source(self.location(span), &self.text, width)
    }

    /// Records an error at a node, underlining its text when it is a scalar.
    pub fn error(&mut self, node: &Node, message: impl Into<String>, help: impl Into<String>) {
        // A mapping's own position is where its first value starts; point at
        // its first key instead, which is where a reader looks.
        let (span, width) = match node {
            Node::Mapping(m) => match m.keys().next() {
                Some(k) => (k.span(), k.as_str().chars().count()),
                None => (node.span(), 1),
            },
            _ => (node.span(), node_width(node)),
        };
        let d = self.diagnostic(span, width, message).help(help);
        self.diagnostics.push(d);
    }

    /// Records an error at a mapping key.
    pub fn key_error(
        &mut self,
        key: &MarkedScalarNode,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let d = self
            .diagnostic(key.span(), key.as_str().chars().count(), message)
            .help(help);
        self.diagnostics.push(d);
    }

    /// Checks that `map` has only `allowed` keys; reports each other key with a did-you-mean.
    pub fn check_keys(&mut self, map: &MarkedMappingNode, what: &str, allowed: &[&str]) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let help = crate::error::suggest(key.as_str(), &format!("keys of {what}"), allowed);
                self.key_error(
                    key,
                    format!("unknown key `{}` in {what}", key.as_str()),
                    help,
                );
            }
        }
    }

    /// A scalar's text, or an error that it should be one.
    pub fn scalar<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedScalarNode> {
        match node {
            Node::Scalar(s) => Some(s),
            _ => {
                self.error(
                    node,
                    format!("{what} must be a single value, not a {}", kind(node)),
                    "write a plain value such as `600`, `true` or `ecommerce`",
                );
                None
            }
        }
    }

    pub fn mapping<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        help: &str,
    ) -> Option<&'n MarkedMappingNode> {
        match node {
            Node::Mapping(m) => Some(m),
            _ => {
                self.error(
                    node,
                    format!("{what} must be a mapping, not a {}", kind(node)),
                    help,
                );
                None
            }
        }
    }
}

/// What kind of YAML node this is, in words.
pub fn kind(node: &Node) -> &'static str {
    match node {
        Node::Scalar(_) => "single value",
        Node::Mapping(_) => "mapping",
        Node::Sequence(_) => "list",
    }
}

fn node_width(node: &Node) -> usize {
    match node {
        Node::Scalar(s) => s.as_str().chars().count(),
        _ => 1,
    }
}
