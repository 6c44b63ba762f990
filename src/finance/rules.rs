//! The arithmetic of settlements, pure and shared by the server and the browser.
//!
//! Rounding: every product of an amount and a rate is rounded half away from zero to the
//! kopeck (`Money::checked_mul_decimal`), once per computed figure.
//!
//! Policy on refunds: the provider keeps its acquiring fee when money is returned, so a
//! refund books no fee and the fee of the payment stays a cost of the order (borne by the
//! partner). The management company's commission follows the money the partner keeps:
//! after each refund it is recomputed on what was paid less what was refunded, and the
//! refund books the difference (a full refund returns the whole commission).
//!
//! Cash: the partner has received the cash itself, so a cash payment moves no money
//! through the company; its commission (and the cash method's fee, normally zero) is owed
//! by the partner and reduces the payout.

use crate::money::Money;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The commission the management company keeps from a partner's payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionTerm {
    /// Percent of the amount, 0–100.
    pub percent: Decimal,
    /// Never less than this per paid invoice (but never more than the amount itself).
    pub minimum: Money,
    /// Added to the percent part.
    pub fixed: Money,
}

impl CommissionTerm {
    pub const NONE: CommissionTerm = CommissionTerm {
        percent: Decimal::ZERO,
        minimum: Money::ZERO,
        fixed: Money::ZERO,
    };

    /// The commission on `kept` roubles of an invoice: fixed + percent, at least the
    /// minimum, at most `kept`; nothing when nothing is kept.
    pub fn commission(&self, kept: Money) -> Option<Money> {
        if kept.kopecks() <= 0 {
            return Some(Money::ZERO);
        }
        let part = kept.checked_mul_decimal(self.percent / Decimal::from(100))?;
        let raw = part.checked_add(self.fixed)?;
        Some(raw.max(self.minimum).min(kept))
    }
}

/// The payment methods an acquiring rate is set for in «Комиссии и эквайринг» (the values
/// of `acquiring_rates.method`): bank card, СБП, cash.
pub const RATE_METHODS: [&str; 3] = ["card", "sbp", "cash"];

/// The acquiring fee of a payment method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeRate {
    pub percent: Decimal,
    pub fixed: Money,
}

impl FeeRate {
    pub const NONE: FeeRate = FeeRate {
        percent: Decimal::ZERO,
        fixed: Money::ZERO,
    };

    /// The fee on a payment of `amount`, at most the amount.
    pub fn fee(&self, amount: Money) -> Option<Money> {
        if amount.kopecks() <= 0 {
            return Some(Money::ZERO);
        }
        let part = amount.checked_mul_decimal(self.percent / Decimal::from(100))?;
        Some(part.checked_add(self.fixed)?.min(amount))
    }
}

/// How a money event splits. For card money: amount = fee + commission + payout; for cash:
/// 0 = fee + commission + payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub amount: Money,
    pub surcharge: Money,
    pub fee: Money,
    pub commission: Money,
    pub payout: Money,
}

/// A card payment of `amount`, of which `surcharge` is the payer's surcharge (kept by the
/// company) and the rest pays the invoice.
pub fn card_payment(
    amount: Money,
    surcharge: Money,
    term: &CommissionTerm,
    rate: &FeeRate,
) -> Option<Split> {
    let base = amount.checked_sub(surcharge)?;
    let fee = rate.fee(amount)?;
    let commission = term.commission(base)?.checked_add(surcharge)?;
    let payout = amount.checked_sub(fee)?.checked_sub(commission)?;
    Some(Split {
        amount,
        surcharge,
        fee,
        commission,
        payout,
    })
}

/// A cash payment of `amount` received by the partner.
pub fn cash_payment(amount: Money, term: &CommissionTerm, rate: &FeeRate) -> Option<Split> {
    let fee = rate.fee(amount)?;
    let commission = term.commission(amount)?;
    let payout = Money::ZERO.checked_sub(fee)?.checked_sub(commission)?;
    Some(Split {
        amount,
        surcharge: Money::ZERO,
        fee,
        commission,
        payout,
    })
}

/// The reversal of a split (a cancelled cash payment).
pub fn reverse(s: &Split) -> Option<Split> {
    let neg = |m: Money| Money::ZERO.checked_sub(m);
    Some(Split {
        amount: neg(s.amount)?,
        surcharge: neg(s.surcharge)?,
        fee: neg(s.fee)?,
        commission: neg(s.commission)?,
        payout: neg(s.payout)?,
    })
}

/// A refund of `amount` from an invoice that had `kept` (paid less earlier refunds,
/// surcharge excluded) before it: no fee, the commission recomputed on what stays.
pub fn refund(amount: Money, kept: Money, term: &CommissionTerm) -> Option<Split> {
    let after = kept.checked_sub(amount)?;
    if after.is_negative() || amount.kopecks() <= 0 {
        return None;
    }
    let commission = term
        .commission(after)?
        .checked_sub(term.commission(kept)?)?;
    let returned = Money::ZERO.checked_sub(amount)?;
    let payout = returned.checked_sub(commission)?;
    Some(Split {
        amount: returned,
        surcharge: Money::ZERO,
        fee: Money::ZERO,
        commission,
        payout,
    })
}

/// A settlement month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

const MONTHS: [&str; 12] = [
    "Январь",
    "Февраль",
    "Март",
    "Апрель",
    "Май",
    "Июнь",
    "Июль",
    "Август",
    "Сентябрь",
    "Октябрь",
    "Ноябрь",
    "Декабрь",
];

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        let (y, m) = s.trim().split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let year: i32 = y.parse().ok()?;
        let month: u32 = m.parse().ok()?;
        ((1..=12).contains(&month) && (2000..=2200).contains(&year))
            .then_some(Period { year, month })
    }

    /// The month a timestamp falls in at a UTC offset.
    pub fn of(ts: i64, offset_minutes: i32) -> Period {
        let t = crate::time::LocalDateTime::from_unix(ts, offset_minutes);
        Period {
            year: t.year as i32,
            month: t.month,
        }
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn prev(self) -> Period {
        if self.month == 1 {
            Period {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Period {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The first second of the month at a UTC offset.
    pub fn start(self, offset_minutes: i32) -> i64 {
        crate::time::days_from_civil(i64::from(self.year), self.month, 1) * 86_400
            - i64::from(offset_minutes) * 60
    }

    /// The first second after the month.
    pub fn end(self, offset_minutes: i32) -> i64 {
        self.next().start(offset_minutes)
    }

    /// «Ноябрь 2026»
    pub fn label(self) -> String {
        format!("{} {}", MONTHS[(self.month - 1) as usize], self.year)
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Why a period cannot be confirmed, if it cannot.
pub fn close_error(
    period: Period,
    current: Period,
    already_closed: bool,
    earliest_open_with_entries: Option<Period>,
    later_closed: bool,
) -> Option<String> {
    if already_closed {
        return Some("Период уже закрыт".into());
    }
    if period >= current {
        return Some("Закрыть можно только завершившийся месяц".into());
    }
    // A later month closed already: this one can only have been skipped as empty.
    if later_closed {
        return Some("Закрыт более поздний период".into());
    }
    match earliest_open_with_entries {
        Some(p) if p < period => Some(format!("Сначала закройте {}", p.label().to_lowercase())),
        _ => None,
    }
}

/// Reads a percent typed by a person: «7,5», «10», «0.25»; 0–100, two decimals at most.
pub fn parse_percent(s: &str) -> Result<Decimal, &'static str> {
    let t = s.trim().trim_end_matches('%').trim().replace(',', ".");
    if t.is_empty() {
        return Err("Введите процент");
    }
    let d = Decimal::from_str(&t).map_err(|_| "Процент должен быть числом, например 7,5")?;
    if d < Decimal::ZERO || d > Decimal::from(100) {
        return Err("Процент от 0 до 100");
    }
    if d.normalize().scale() > 2 {
        return Err("Не больше двух знаков после запятой");
    }
    Ok(d.normalize())
}

/// A local date `YYYY-MM-DD` as typed in a date input.
pub fn parse_day(s: &str) -> Option<String> {
    crate::time::parse_date_input(s, 0).map(|_| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rub(k: i64) -> Money {
        Money::from_kopecks(k)
    }

    fn term(p: &str, min: i64, fixed: i64) -> CommissionTerm {
        CommissionTerm {
            percent: Decimal::from_str(p).unwrap(),
            minimum: rub(min),
            fixed: rub(fixed),
        }
    }

    #[test]
    fn commission_is_percent_plus_fixed_at_least_the_minimum_at_most_the_amount() {
        let t = term("10", 5_000, 1_000);
        // 10 % of 1 000,00 = 100,00, plus 10,00
        assert_eq!(t.commission(rub(100_000)), Some(rub(11_000)));
        // 10 % of 100,00 + 10,00 = 20,00, below the 50,00 minimum
        assert_eq!(t.commission(rub(10_000)), Some(rub(5_000)));
        // never more than what was paid
        assert_eq!(t.commission(rub(3_000)), Some(rub(3_000)));
        assert_eq!(t.commission(Money::ZERO), Some(Money::ZERO));
        // half a kopeck rounds away from zero: 7,5 % of 0,10 = 0,0075 → 0,01
        assert_eq!(term("7.5", 0, 0).commission(rub(10)), Some(rub(1)));
        assert_eq!(term("7.5", 0, 0).commission(rub(6)), Some(rub(0)));
    }

    #[test]
    fn a_card_payment_splits_into_fee_commission_and_payout() {
        let s = card_payment(
            rub(120_000),
            Money::ZERO,
            &term("10", 0, 0),
            &FeeRate {
                percent: Decimal::from_str("2.2").unwrap(),
                fixed: Money::ZERO,
            },
        )
        .unwrap();
        assert_eq!(s.fee, rub(2_640));
        assert_eq!(s.commission, rub(12_000));
        assert_eq!(s.payout, rub(105_360));
    }

    #[test]
    fn a_full_refund_returns_the_whole_commission_but_not_the_fee() {
        let t = term("10", 5_000, 0);
        let s = refund(rub(120_000), rub(120_000), &t).unwrap();
        assert_eq!(s.amount, rub(-120_000));
        assert_eq!(s.fee, Money::ZERO);
        assert_eq!(s.commission, rub(-12_000));
        assert_eq!(s.payout, rub(-108_000));
        assert_eq!(refund(rub(1), rub(0), &t), None);
    }

    #[test]
    fn periods_follow_the_local_calendar() {
        let p = Period::parse("2026-11").unwrap();
        assert_eq!(p.to_string(), "2026-11");
        assert_eq!(p.label(), "Ноябрь 2026");
        assert_eq!(p.next(), Period::parse("2026-12").unwrap());
        assert_eq!(p.next().next(), Period::parse("2027-01").unwrap());
        assert_eq!(
            Period::parse("2027-01").unwrap().prev().to_string(),
            "2026-12"
        );
        // 30.11.2026 23:30 in Moscow is still November; 21:00 UTC is December 1st there
        let start_dec = Period::parse("2026-12").unwrap().start(180);
        assert_eq!(Period::of(start_dec - 1, 180), p);
        assert_eq!(Period::of(start_dec, 180).to_string(), "2026-12");
        assert_eq!(p.end(180), start_dec);
        assert_eq!(Period::parse("2026-13"), None);
        assert_eq!(Period::parse("26-11"), None);
    }

    #[test]
    fn periods_close_in_order_and_only_when_over() {
        let oct = Period::parse("2026-10").unwrap();
        let nov = oct.next();
        assert!(close_error(nov, nov, false, None, false).is_some());
        assert!(close_error(oct, nov, true, None, false).is_some());
        assert_eq!(close_error(oct, nov, false, Some(oct), false), None);
        assert_eq!(
            close_error(oct, nov, false, Some(oct.prev()), false).as_deref(),
            Some("Сначала закройте сентябрь 2026")
        );
        assert_eq!(
            close_error(oct, nov, false, None, true).as_deref(),
            Some("Закрыт более поздний период")
        );
    }

    #[test]
    fn percents_are_read_as_people_type_them() {
        assert_eq!(parse_percent("7,5"), Ok(Decimal::from_str("7.5").unwrap()));
        assert_eq!(parse_percent(" 10 % "), Ok(Decimal::from(10)));
        assert!(parse_percent("101").is_err());
        assert!(parse_percent("-1").is_err());
        assert!(parse_percent("1,255").is_err());
        assert!(parse_percent("abc").is_err());
        assert!(parse_percent("").is_err());
    }

    fn arb_term() -> impl Strategy<Value = CommissionTerm> {
        (0u32..=3000, 0i64..20_000, 0i64..5_000).prop_map(|(p, min, fixed)| CommissionTerm {
            percent: Decimal::new(i64::from(p), 2),
            minimum: rub(min),
            fixed: rub(fixed),
        })
    }

    fn arb_rate() -> impl Strategy<Value = FeeRate> {
        (0u32..=500, 0i64..3_000).prop_map(|(p, fixed)| FeeRate {
            percent: Decimal::new(i64::from(p), 2),
            fixed: rub(fixed),
        })
    }

    proptest! {
        #[test]
        fn a_card_payment_always_balances(
            amount in 1i64..100_000_000,
            surcharge_part in 0i64..100,
            t in arb_term(),
            r in arb_rate(),
        ) {
            let surcharge = rub(amount * surcharge_part / 1000);
            let s = card_payment(rub(amount), surcharge, &t, &r).unwrap();
            prop_assert_eq!(s.fee.kopecks() + s.commission.kopecks() + s.payout.kopecks(), amount);
            prop_assert!(s.fee.kopecks() >= 0 && s.commission.kopecks() >= 0);
            prop_assert!(s.commission.kopecks() <= amount);
        }

        #[test]
        fn cash_balances_to_zero(amount in 1i64..100_000_000, t in arb_term(), r in arb_rate()) {
            let s = cash_payment(rub(amount), &t, &r).unwrap();
            prop_assert_eq!(s.fee.kopecks() + s.commission.kopecks() + s.payout.kopecks(), 0);
            let back = reverse(&s).unwrap();
            prop_assert_eq!(back.payout.kopecks() + s.payout.kopecks(), 0);
        }

        /// However a paid invoice is refunded in parts, the commissions booked add up to
        /// the commission on what stays, every refund balances, and the fee stays.
        #[test]
        fn refunds_in_parts_leave_the_commission_of_what_is_kept(
            amount in 1i64..10_000_000,
            cuts in proptest::collection::vec(1i64..1000, 0..6),
            t in arb_term(),
            r in arb_rate(),
        ) {
            let pay = card_payment(rub(amount), Money::ZERO, &t, &r).unwrap();
            let mut kept = amount;
            let mut commission = pay.commission.kopecks();
            let mut payout = pay.payout.kopecks();
            for cut in cuts {
                let part = (kept * cut / 1000).max(1).min(kept);
                if kept == 0 { break; }
                let s = refund(rub(part), rub(kept), &t).unwrap();
                prop_assert_eq!(s.amount.kopecks(), -part);
                prop_assert_eq!(s.fee.kopecks() + s.commission.kopecks() + s.payout.kopecks(), -part);
                kept -= part;
                commission += s.commission.kopecks();
                payout += s.payout.kopecks();
            }
            prop_assert_eq!(commission, t.commission(rub(kept)).unwrap().kopecks());
            prop_assert_eq!(payout, kept - pay.fee.kopecks() - commission);
            prop_assert!(commission >= 0);
        }
    }
}
