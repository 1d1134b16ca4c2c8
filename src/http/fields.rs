//! A request head's fields, kept as byte ranges into the head's own bytes. The gateway reads
//! a handful of them (framing, keep-alive, `Expect`, the client's key); a `HeaderMap` cost
//! an allocation and a validation pass per field, on every request, to read those few.
//! Names match case-insensitively; a name may repeat, and its values keep their order.

use std::ops::Range;

use bytes::Bytes;

/// The fields of one head. httparse has checked them: names are tokens, values hold no
/// control bytes but tab, and neither holds a line break (obs-fold is refused).
pub struct Fields {
    head: Bytes,
    /// Each field's name and value, as ranges into `head`.
    ranges: Vec<(Range<usize>, Range<usize>)>,
}

impl Fields {
    /// `ranges` index into `head`.
    pub(super) fn new(head: Bytes, ranges: Vec<(Range<usize>, Range<usize>)>) -> Self {
        Self { head, ranges }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Every field in the order received, its name as sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.ranges.iter().map(|(name, value)| {
            // A token is ASCII: never the empty default.
            let name = std::str::from_utf8(&self.head[name.clone()]).unwrap_or_default();
            (name, &self.head[value.clone()])
        })
    }

    /// Every field in the order received, name and value as bytes.
    pub fn raw(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let field = |range: &Range<usize>| &self.head[range.clone()];
        self.ranges
            .iter()
            .map(move |(name, value)| (field(name), field(value)))
    }

    /// The values of every field called `name` (in any case), in order.
    pub fn get_all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.raw().filter_map(move |(field, value)| {
            field.eq_ignore_ascii_case(name.as_bytes()).then_some(value)
        })
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// The first value of `name` as text, when it is visible ASCII.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(text)
    }
}

/// A field value as text, when it is visible ASCII (as `HeaderValue::to_str` has it).
pub fn text(value: &[u8]) -> Option<&str> {
    let visible = value
        .iter()
        .all(|&byte| byte == b'\t' || (b' '..0x7f).contains(&byte));
    visible.then(|| std::str::from_utf8(value).ok()).flatten()
}
