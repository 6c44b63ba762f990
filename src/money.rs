//! Money: integer kopecks with checked arithmetic, Russian formatting and parsing.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount in roubles stored as whole kopecks. Never a float.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(i64);

/// Why a typed amount could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("Введите сумму")]
    Empty,
    #[error("Сумма должна быть числом, например 1 234,50")]
    Invalid,
    #[error("Не больше двух знаков после запятой")]
    TooPrecise,
    #[error("Слишком большая сумма")]
    Overflow,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_kopecks(kopecks: i64) -> Self {
        Money(kopecks)
    }

    pub const fn kopecks(self) -> i64 {
        self.0
    }

    /// Whole roubles, e.g. `Money::from_rubles(1500)` is 1 500,00 ₽.
    pub fn from_rubles(rubles: i64) -> Option<Self> {
        rubles.checked_mul(100).map(Money)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// Multiplies by an exact decimal (a quantity or a rate) and rounds half away from zero
    /// to the kopeck: the one rounding rule of the product.
    pub fn checked_mul_decimal(self, factor: Decimal) -> Option<Money> {
        let product = Decimal::from(self.0).checked_mul(factor)?;
        product
            .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
            .to_i64()
            .map(Money)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The amount as an exact decimal number of roubles (for spreadsheets and reports).
    pub fn to_decimal_rubles(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    /// Sums amounts, `None` on overflow.
    pub fn sum<I: IntoIterator<Item = Money>>(items: I) -> Option<Money> {
        items
            .into_iter()
            .try_fold(Money::ZERO, |acc, m| acc.checked_add(m))
    }

    /// Reads what people type: `1234,5`, `1 234.50`, `1 234,50 ₽`, `15 000`.
    pub fn parse(input: &str) -> Result<Money, MoneyError> {
        let cleaned: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '₽' && *c != '\u{202f}' && *c != '\u{a0}')
            .collect();
        let cleaned = cleaned
            .trim_end_matches("руб.")
            .trim_end_matches("руб")
            .trim_end_matches("р.");
        if cleaned.is_empty() {
            return Err(MoneyError::Empty);
        }
        let (negative, body) = match cleaned.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, cleaned),
        };
        let mut parts = body.splitn(2, [',', '.']);
        let whole = parts.next().unwrap_or("");
        let frac = parts.next();
        if whole.is_empty() && frac.is_none_or(str::is_empty) {
            return Err(MoneyError::Invalid);
        }
        if !whole.chars().all(|c| c.is_ascii_digit())
            || frac.is_some_and(|f| !f.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(MoneyError::Invalid);
        }
        let whole_value: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| MoneyError::Overflow)?
        };
        let frac_value: i64 = match frac {
            None | Some("") => 0,
            Some(f) if f.len() == 1 => f.parse::<i64>().map_err(|_| MoneyError::Invalid)? * 10,
            Some(f) if f.len() == 2 => f.parse::<i64>().map_err(|_| MoneyError::Invalid)?,
            Some(_) => return Err(MoneyError::TooPrecise),
        };
        let kopecks = whole_value
            .checked_mul(100)
            .and_then(|k| k.checked_add(frac_value))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money(if negative { -kopecks } else { kopecks }))
    }

    /// `1 234,50` without the currency sign (thin no-break space between thousands).
    pub fn format_number(self) -> String {
        let abs = self.0.unsigned_abs();
        let rubles = abs / 100;
        let kop = abs % 100;
        let digits = rubles.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 * 3);
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push('\u{202f}');
            }
            grouped.push(ch);
        }
        let sign = if self.0 < 0 { "-" } else { "" };
        format!("{sign}{grouped},{kop:02}")
    }
}

impl fmt::Display for Money {
    /// `1 234,50 ₽`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\u{a0}₽", self.format_number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    #[test]
    fn formats_with_thousands_and_kopecks() {
        assert_eq!(
            Money::from_kopecks(123450).to_string(),
            "1\u{202f}234,50\u{a0}₽"
        );
        assert_eq!(Money::from_kopecks(5).to_string(), "0,05\u{a0}₽");
        assert_eq!(
            Money::from_kopecks(15_000_000).format_number(),
            "150\u{202f}000,00"
        );
        assert_eq!(Money::from_kopecks(-1999).format_number(), "-19,99");
        assert_eq!(
            Money::from_kopecks(100_000_000).format_number(),
            "1\u{202f}000\u{202f}000,00"
        );
    }

    #[test]
    fn parses_what_people_type() {
        assert_eq!(Money::parse("1234,5"), Ok(Money::from_kopecks(123450)));
        assert_eq!(Money::parse("1 234.50"), Ok(Money::from_kopecks(123450)));
        assert_eq!(
            Money::parse("1\u{202f}234,50\u{a0}₽"),
            Ok(Money::from_kopecks(123450))
        );
        assert_eq!(Money::parse("15 000"), Ok(Money::from_kopecks(1_500_000)));
        assert_eq!(Money::parse(",5"), Ok(Money::from_kopecks(50)));
        assert_eq!(Money::parse("7."), Ok(Money::from_kopecks(700)));
        assert_eq!(Money::parse("100 руб."), Ok(Money::from_kopecks(10000)));
    }

    #[test]
    fn refuses_garbage_with_a_reason() {
        assert_eq!(Money::parse(""), Err(MoneyError::Empty));
        assert_eq!(Money::parse("   "), Err(MoneyError::Empty));
        assert_eq!(Money::parse("12a"), Err(MoneyError::Invalid));
        assert_eq!(Money::parse("1,2,3"), Err(MoneyError::Invalid));
        assert_eq!(Money::parse("1,234"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse("."), Err(MoneyError::Invalid));
        assert_eq!(
            Money::parse("99999999999999999999"),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn checked_arithmetic_reports_overflow() {
        assert_eq!(
            Money::from_kopecks(i64::MAX).checked_add(Money::from_kopecks(1)),
            None
        );
        assert_eq!(
            Money::from_kopecks(i64::MIN).checked_sub(Money::from_kopecks(1)),
            None
        );
        assert_eq!(Money::from_rubles(i64::MAX), None);
    }

    #[test]
    fn multiplication_rounds_half_away_from_zero() {
        let price = Money::from_kopecks(333);
        assert_eq!(
            price.checked_mul_decimal(Decimal::from_str("1.5").unwrap()),
            Some(Money::from_kopecks(500))
        );
        // 10,01 ₽ × 2.5% = 25.025 kopecks → 25
        assert_eq!(
            Money::from_kopecks(1001).checked_mul_decimal(Decimal::from_str("0.025").unwrap()),
            Some(Money::from_kopecks(25))
        );
        // 0,05 ₽ × 0.5 = 2.5 kopecks → 3
        assert_eq!(
            Money::from_kopecks(5).checked_mul_decimal(Decimal::from_str("0.5").unwrap()),
            Some(Money::from_kopecks(3))
        );
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(k in -10_000_000_000_000i64..10_000_000_000_000i64) {
            let m = Money::from_kopecks(k);
            prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
            prop_assert_eq!(Money::parse(&m.format_number().replace('\u{202f}', "")), Ok(m));
        }

        #[test]
        fn decimal_view_is_exact(k in any::<i64>()) {
            let m = Money::from_kopecks(k);
            prop_assert_eq!(m.to_decimal_rubles() * Decimal::from(100), Decimal::from(k));
        }

        #[test]
        fn multiplying_by_an_integer_is_exact(k in -1_000_000_000i64..1_000_000_000, q in 0i64..1000) {
            let m = Money::from_kopecks(k);
            prop_assert_eq!(m.checked_mul_decimal(Decimal::from(q)), Some(Money::from_kopecks(k * q)));
        }

        #[test]
        fn rounding_error_is_at_most_half_a_kopeck(k in 0i64..1_000_000_000, rate_bp in 0i64..10_000) {
            let rate = Decimal::new(rate_bp, 4);
            let exact = Decimal::from(k) * rate;
            let rounded = Money::from_kopecks(k).checked_mul_decimal(rate).unwrap();
            let diff = (Decimal::from(rounded.kopecks()) - exact).abs();
            prop_assert!(diff <= Decimal::new(5, 1));
        }
    }
}
