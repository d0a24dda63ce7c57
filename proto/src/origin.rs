//! What a web origin is, wherever one is accepted (the sites that may frame
//! the widget, from an operator or an admin): http(s), a host and maybe a
//! port, nothing else, because it ends up in a Content-Security-Policy
//! where a path or a `;` would change what the policy says.

/// The origin as a browser sends it (`https://shop.example.com`), or why
/// `raw` is not one.
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let refused = || format!("{raw:?} is not an origin like https://shop.example.com");
    let url = url::Url::parse(raw.trim()).map_err(|_| refused())?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.fragment().is_none()
        && url.host_str().is_some();
    if !plain {
        return Err(refused());
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_origins_are_origins() {
        assert_eq!(parse_origin("https://shop.example.com").unwrap(), "https://shop.example.com");
        assert_eq!(parse_origin("https://shop.example.com:8443/").unwrap(), "https://shop.example.com:8443");
        for bad in [
            "https://x.com; script-src *",
            "https://x.com/path",
            "javascript:alert(1)",
            "*",
            "https://u:p@x.com",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
