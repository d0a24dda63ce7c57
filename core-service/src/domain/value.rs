//! Validated values: parse, don't validate. Each constructor checks the
//! docs/protocol.md limits once, so the rest of the core can trust what it holds.
//! Lengths count Unicode characters, not bytes.

use super::{DomainError, FieldError};

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Free text may hold line breaks and tabs, but not U+0000: PostgreSQL
/// cannot store it, and SQLite must answer the same.
fn storable(field: &str, s: &str) -> Result<(), FieldError> {
    if s.contains('\0') {
        return Err(FieldError::new(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// Trimmed text of 1..=max characters with no control characters
/// (names, titles, shortcuts).
fn single_line(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if chars(s) > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    Ok(s.to_string())
}

/// A display name for a visitor or an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        single_line(field, raw, Self::MAX_CHARS).map(Self)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An optional contact address for a visitor. Only its shape is checked:
/// one `@`, something on each side, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        let ok = chars(s) <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(s.split_once('@'), Some((local, domain))
                if !local.is_empty() && domain.contains('.') && !domain.contains('@')
                    && !domain.starts_with('.') && !domain.ends_with('.'));
        if ok { Ok(Self(s.to_string())) } else { Err(FieldError::new("email", "must be an email address")) }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The text of a message. Empty or whitespace-only content is refused;
/// content longer than the max_message_chars setting is `too_large`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    pub fn parse(raw: &str, max_chars: u32) -> Result<Self, DomainError> {
        if raw.trim().is_empty() {
            return Err(DomainError::field("content", "must not be empty"));
        }
        storable("content", raw)?;
        let n = chars(raw);
        if n > max_chars as usize {
            return Err(DomainError::TooLarge(format!(
                "content is {n} characters; the limit is {max_chars}"
            )));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The sender's idempotency key for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() {
            return Err(FieldError::new("client_id", "must not be empty"));
        }
        if chars(raw) > Self::MAX_CHARS {
            return Err(FieldError::new("client_id", "must be at most 64 characters"));
        }
        if raw.chars().any(char::is_control) {
            return Err(FieldError::new("client_id", "must not contain control characters"));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An agent's login name: 3..=64 of a-z, 0-9, `.`, `_`, `-`, `@`, compared
/// lowercase so that "Bea" and "bea" are the same account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim().to_lowercase();
        let ok = (3..=64).contains(&chars(&s))
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if ok {
            Ok(Self(s))
        } else {
            Err(FieldError::new(
                "username",
                "must be 3 to 64 characters of letters, digits, '.', '_', '-' or '@'",
            ))
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A new password: at least 8 characters (and at most 1024, so that hashing
/// cannot be used to burn CPU).
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let n = chars(raw);
        if n < 8 {
            return Err(FieldError::new("password", "must be at least 8 characters"));
        }
        if n > 1024 {
            return Err(FieldError::new("password", "must be at most 1024 characters"));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// A permission group's name: 1..=50 of a-z, 0-9, `_`, `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let ok = (1..=50).contains(&chars(raw))
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(FieldError::new(field, "must be 1 to 50 characters of a-z, 0-9, '_' or '-'"))
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// What an agent types after `/` to insert a canned response: 1..=32
/// characters, no whitespace, compared as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortcut(String);

impl Shortcut {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim().trim_start_matches('/');
        let ok = (1..=32).contains(&chars(s)) && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(FieldError::new("shortcut", "must be 1 to 32 characters without spaces"))
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Free text of 1..=max characters that may span lines (canned bodies,
/// settings texts, closing messages).
pub fn text(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    if raw.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if chars(raw) > max {
        return Err(FieldError::new(field, format!("must be at most {max} characters")));
    }
    storable(field, raw)?;
    Ok(raw.to_string())
}

/// Title of a canned response.
pub fn title(raw: &str) -> Result<String, FieldError> {
    single_line("title", raw, 100)
}

/// Collects field errors so that a request reports every bad field at once.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// Keeps the value, or remembers the error and returns None.
    pub fn check<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    /// Ok when nothing was wrong.
    pub fn finish(self) -> Result<(), DomainError> {
        if self.0.is_empty() { Ok(()) } else { Err(DomainError::Invalid(self.0)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_refused_wherever_text_is_stored_but_line_breaks_are_not() {
        assert_eq!(
            MessageContent::parse("a\0b", 100),
            Err(DomainError::field("content", "must not contain NUL characters"))
        );
        assert!(MessageContent::parse("line one\nline two\t", 100).is_ok());
        assert_eq!(text("body", "Hi\0", 100).unwrap_err().field, "body");
        assert!(Email::parse("ana\0@example.com").is_err());
        assert!(DisplayName::parse("name", "A\0na").is_err());
        assert!(ClientId::parse("c\u{0}1").is_err());
    }

    #[test]
    fn names_are_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(DisplayName::parse("name", "  Ana ").unwrap().into_inner(), "Ana");
        assert!(DisplayName::parse("name", "   ").is_err());
        let hundred_emoji = "😀".repeat(100);
        assert!(DisplayName::parse("name", &hundred_emoji).is_ok());
        assert!(DisplayName::parse("name", &"😀".repeat(101)).is_err());
        assert!(DisplayName::parse("name", "a\u{0}b").is_err());
    }

    #[test]
    fn content_over_the_limit_is_too_large_and_blank_is_invalid() {
        assert!(MessageContent::parse("héllo", 5).is_ok());
        assert!(matches!(MessageContent::parse("héllo!", 5), Err(DomainError::TooLarge(_))));
        assert!(matches!(MessageContent::parse(" \n ", 5), Err(DomainError::Invalid(_))));
    }

    #[test]
    fn client_id_is_at_most_64_characters() {
        assert!(ClientId::parse(&"x".repeat(64)).is_ok());
        assert!(ClientId::parse(&"x".repeat(65)).is_err());
        assert!(ClientId::parse("").is_err());
    }

    #[test]
    fn usernames_are_lowercased_and_restricted() {
        assert_eq!(Username::parse("Bea.Smith").unwrap().into_inner(), "bea.smith");
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("bea smith").is_err());
        assert!(Username::parse("bea<script>").is_err());
    }

    #[test]
    fn passwords_need_eight_characters_and_never_print() {
        assert!(NewPassword::parse("1234567").is_err());
        let p = NewPassword::parse("correct horse").unwrap();
        assert_eq!(format!("{p:?}"), "NewPassword(***)");
    }

    #[test]
    fn emails_need_a_plausible_shape() {
        assert!(Email::parse("ana@example.com").is_ok());
        for bad in ["ana", "ana@", "@example.com", "ana@example", "a b@example.com", "a@b@c.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shortcuts_drop_a_leading_slash_and_refuse_spaces() {
        assert_eq!(Shortcut::parse("/hello").unwrap().into_inner(), "hello");
        assert!(Shortcut::parse("two words").is_err());
        assert!(Shortcut::parse("/").is_err());
    }

    #[test]
    fn checks_report_every_bad_field() {
        let mut c = Checks::default();
        c.check(DisplayName::parse("name", ""));
        c.check(Email::parse("nope"));
        c.check(ClientId::parse("ok"));
        match c.finish() {
            Err(DomainError::Invalid(errs)) => {
                let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["name", "email"]);
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Property tests: any input is parsed or refused with a field error (never
/// a panic), and what is accepted keeps the promises the rest of the core
/// relies on.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn accepted_names_are_trimmed_bounded_and_single_line(raw in "\\PC{0,120}|[ \t\n\u{0}a-z]{0,20}") {
            if let Ok(n) = DisplayName::parse("name", &raw) {
                let n = n.into_inner();
                prop_assert_eq!(n.trim(), n.as_str());
                prop_assert!(!n.is_empty() && n.chars().count() <= DisplayName::MAX_CHARS);
                prop_assert!(!n.chars().any(char::is_control));
            }
        }

        #[test]
        fn accepted_content_is_storable_and_within_the_limit(raw in "\\PC{0,60}|[ \t\n\u{0}x]{0,20}", max in 1u32..50) {
            match MessageContent::parse(&raw, max) {
                Ok(c) => {
                    prop_assert!(!c.as_str().contains('\0') && !c.as_str().trim().is_empty());
                    prop_assert!(c.as_str().chars().count() <= max as usize);
                }
                Err(DomainError::TooLarge(_)) => prop_assert!(raw.chars().count() > max as usize),
                Err(DomainError::Invalid(errs)) => prop_assert_eq!(errs[0].field.as_str(), "content"),
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }

        #[test]
        fn usernames_and_emails_answer_for_anything(raw in "\\PC{0,80}") {
            if let Ok(u) = Username::parse(&raw) {
                let u = u.into_inner();
                prop_assert_eq!(u.to_lowercase(), u.clone());
                prop_assert!((3..=64).contains(&u.len()));
            }
            if let Ok(e) = Email::parse(&raw) {
                prop_assert!(e.into_inner().contains('@'));
            }
            let _ = ClientId::parse(&raw);
        }
    }
}
