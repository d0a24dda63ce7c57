//! A configured secret (a password, a token, a URL with credentials) that
//! must never reach a log line, a `Debug` dump or `--help`.

/// A value that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The value itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True for the placeholders that templates ship ("change-me"): a
    /// process started with one would trust a value everyone can read.
    pub fn is_placeholder(&self) -> bool {
        let v = self.0.to_ascii_lowercase();
        ["change-me", "changeme", "change_me"].iter().any(|p| v.contains(p))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() { Err("must not be empty".into()) } else { Ok(Self(s.to_string())) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
        assert!("".parse::<Secret>().is_err());
    }

    #[test]
    fn template_placeholders_are_recognised() {
        assert!(Secret::new("CHANGE-ME-to-the-bot-token").is_placeholder());
        assert!(!Secret::new("123456:AAE-real-token").is_placeholder());
    }
}
