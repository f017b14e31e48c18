//! Request validation that collects one message per invalid field (RFC 9457 `errors`).

use crate::problem::{FieldError, Problem};

/// Longest e-mail address (RFC 5321 §4.5.3.1.3 path limit less the brackets).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest display name, title or device/token name (characters).
pub const MAX_NAME_LEN: usize = 100;

#[derive(Default)]
pub struct Check {
    errors: Vec<FieldError>,
}

impl Check {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// A plausible address: one `@`, a dot in the domain, no spaces or control characters.
    pub fn email(&mut self, field: &str, v: &str) {
        let ok = v.len() <= MAX_EMAIL_LEN
            && !v.chars().any(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ',' | ';')
            })
            && match v.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if !ok {
            self.fail(field, "must be an e-mail address");
        }
    }

    /// 1..=MAX_NAME_LEN characters, no control characters, not only spaces.
    pub fn name(&mut self, field: &str, v: &str) {
        let n = v.chars().count();
        if n == 0 || v.trim().is_empty() {
            self.fail(field, "must not be empty");
        } else if n > MAX_NAME_LEN {
            self.fail(field, format!("must be at most {MAX_NAME_LEN} characters"));
        } else if v.chars().any(char::is_control) {
            self.fail(field, "must not contain control characters");
        }
    }

    pub fn password(&mut self, field: &str, v: &str) {
        self.password_for(field, v, &[]);
    }

    /// [`Check::password`], also refusing passwords made of `user_inputs` (the account's
    /// e-mail address and name).
    pub fn password_for(&mut self, field: &str, v: &str, user_inputs: &[&str]) {
        if let Err(e) = crate::security::password::check_policy_for(v, user_inputs) {
            self.fail(field, e.to_string());
        }
    }

    /// A channel slug: `[A-Za-z0-9_-]{1,64}`.
    pub fn slug(&mut self, field: &str, v: &str) {
        if !crate::auth::is_valid_channel_name(v) {
            self.fail(field, "must be 1 to 64 letters (A-Z, a-z), digits, _ or -");
        }
    }

    pub fn done(self) -> Result<(), Problem> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Problem::invalid(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_names() {
        let mut c = Check::new();
        for ok in ["a@b.co", "first.last+tag@example.org"] {
            c.email("e", ok);
        }
        assert!(c.done().is_ok());
        for bad in [
            "",
            "a",
            "a@b",
            "@b.co",
            "a@@b.co",
            "a b@c.d",
            "a@b.co\n",
            "x'; DROP TABLE users;--@a.b",
        ] {
            let mut c = Check::new();
            c.email("e", bad);
            // The SQL-ish one has a space, and would be harmless anyway: every query binds.
            assert!(c.done().is_err(), "{bad:?}");
        }
        let mut c = Check::new();
        c.name("n", "   ");
        c.name("m", &"x".repeat(101));
        c.name("o", "tab\there");
        let p = c.done().unwrap_err();
        assert_eq!(p.errors.len(), 3);
    }
}
