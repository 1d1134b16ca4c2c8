//! Query strings: `name=value` pairs split on `&`, with `%XX` escapes decoded (`+` stays a
//! plus: RFC 3339 offsets such as `+01:00` are written unescaped by hand).

/// The pairs of `query` in order; a name without `=` has an empty value. `None` when an
/// escape is broken or does not decode to UTF-8.
pub fn pairs(query: &str) -> Option<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(name)?, decode(value)?))
        })
        .collect()
}

/// `text` with its `%XX` escapes decoded; `None` when one is broken or not UTF-8.
pub fn decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(after.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &after[2..];
        } else {
            bytes.push(byte);
            rest = after;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::pairs;

    #[test]
    fn splits_and_decodes() {
        let decoded = pairs("group_by=key&since=2026-12-02T00%3A00%3A00%2B01:00&flag").unwrap();
        let expected = [
            ("group_by", "key"),
            ("since", "2026-12-02T00:00:00+01:00"),
            ("flag", ""),
        ];
        let decoded: Vec<(&str, &str)> = decoded
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(decoded, expected);
        assert_eq!(pairs(""), Some(vec![]));
        assert_eq!(pairs("a=%zz"), None);
        assert_eq!(pairs("a=%ff"), None);
    }
}
