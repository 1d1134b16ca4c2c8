//! The console's page and assets, embedded in the binary (no build step, nothing to
//! install beside the gateway): `GET /console` and `/console/{console.js,console.css}`.
//! The page reads the `/admin/` JSON endpoints with the admin key; its charts are SVG drawn
//! by its own script (smaller than any charting library for four charts). A leaf: bytes only.

/// The asset served at `path` (`/console`, `/console/`, `/console/console.js`, …): its
/// content type and bytes.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    match path {
        "/console" | "/console/" | "/console/index.html" => Some((
            "text/html; charset=utf-8",
            include_bytes!("index.html").as_slice(),
        )),
        "/console/console.js" => Some((
            "text/javascript; charset=utf-8",
            include_bytes!("console.js").as_slice(),
        )),
        "/console/console.css" => Some((
            "text/css; charset=utf-8",
            include_bytes!("console.css").as_slice(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::asset;

    #[test]
    fn the_page_names_only_assets_that_exist() {
        let (content_type, page) = asset("/console").expect("the page");
        assert!(content_type.starts_with("text/html"));
        let page = std::str::from_utf8(page).unwrap();
        for reference in ["/console/console.js", "/console/console.css"] {
            assert!(page.contains(reference), "{reference}");
            assert!(asset(reference).is_some(), "{reference}");
        }
        assert!(asset("/console/../Cargo.toml").is_none());
    }
}
