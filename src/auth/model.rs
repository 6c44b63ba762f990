//! Who is signed in, as the browser may see it (never a password hash), and the
//! parsed forms of what people type at sign-in.

use super::permissions::Permissions;
use serde::{Deserialize, Serialize};

/// A staff member as shown to the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffUser {
    pub staff_id: i64,
    pub full_name: String,
    pub email: String,
    pub role_name: String,
    pub legal_entity_id: i64,
    pub permissions: Permissions,
}

/// A resident as shown to the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidentUser {
    pub resident_id: i64,
    pub full_name: String,
    pub phone: String,
    pub current_premises_id: Option<i64>,
}

/// The signed-in person, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Viewer {
    Staff(StaffUser),
    Resident(ResidentUser),
}

/// A Russian mobile number in the form `+79001234567`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Phone(String);

impl Phone {
    /// Accepts `+7 (900) 123-45-67`, `8 900 123 45 67`, `9001234567`.
    pub fn parse(input: &str) -> Result<Phone, String> {
        let digits: String = input.chars().filter(|c| c.is_ascii_digit()).collect();
        let allowed = input
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()".contains(c));
        if !allowed {
            return Err("Номер телефона может содержать только цифры".into());
        }
        let national = match digits.len() {
            10 => digits.as_str(),
            11 if digits.starts_with('7') || digits.starts_with('8') => &digits[1..],
            0 => return Err("Введите номер телефона".into()),
            _ => return Err("Введите номер из 10 цифр после +7".into()),
        };
        Ok(Phone(format!("+7{national}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `+7 900 123-45-67`
    pub fn pretty(&self) -> String {
        let d = &self.0[2..];
        format!("+7 {} {}-{}-{}", &d[0..3], &d[3..6], &d[6..8], &d[8..10])
    }
}

/// A trimmed, lower-cased e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Email, String> {
        let s = input.trim().to_lowercase();
        if s.is_empty() {
            return Err("Введите e-mail".into());
        }
        let valid = s.len() <= 254
            && !s.chars().any(char::is_whitespace)
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if valid {
            Ok(Email(s))
        } else {
            Err("Введите e-mail в виде name@example.ru".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A one-time code as typed: exactly six digits.
pub fn parse_code(input: &str) -> Result<String, String> {
    let code: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
        Ok(code)
    } else {
        Err("Код состоит из 6 цифр".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_in_every_usual_spelling() {
        for s in [
            "+7 (900) 123-45-67",
            "8 900 123 45 67",
            "9001234567",
            "79001234567",
        ] {
            assert_eq!(Phone::parse(s).unwrap().as_str(), "+79001234567", "{s}");
        }
        assert_eq!(
            Phone::parse("+79001234567").unwrap().pretty(),
            "+7 900 123-45-67"
        );
        assert!(Phone::parse("").is_err());
        assert!(Phone::parse("12345").is_err());
        assert!(Phone::parse("+1 900 123 45 67 1").is_err());
        assert!(Phone::parse("900-123-45-6x").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Admin@Demo.RU ").unwrap().as_str(),
            "admin@demo.ru"
        );
        assert!(Email::parse("admin").is_err());
        assert!(Email::parse("a@b").is_err());
        assert!(Email::parse("a b@c.ru").is_err());
        assert!(Email::parse("").is_err());
    }

    #[test]
    fn codes() {
        assert_eq!(parse_code(" 123 456 ").unwrap(), "123456");
        assert!(parse_code("12345").is_err());
        assert!(parse_code("12345a").is_err());
    }
}
