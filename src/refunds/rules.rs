//! Refund arithmetic and rules, shared by the modals (live amounts) and the server.
//! A line's refund is exactly its unit price × quantity (rounded half away from zero to
//! the kopeck); a quantity, unit price or amount above what the line allows is refused with
//! the maximum, never capped. A full refund returns what is left of every line.

use crate::invoices::rules::parse_quantity;
use crate::money::Money;
use crate::orders::status::OrderStatus;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A paid invoice line with what has been refunded from it (failed refunds excluded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundableLine {
    pub line_id: i64,
    pub name: String,
    pub unit: String,
    pub quantity: Decimal,
    pub unit_price: Money,
    pub amount: Money,
    pub refunded: Money,
}

impl RefundableLine {
    pub fn remaining(&self) -> Money {
        self.amount
            .checked_sub(self.refunded)
            .filter(|m| !m.is_negative())
            .unwrap_or(Money::ZERO)
    }
}

/// A line as ticked and edited in the refund modal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLineInput {
    pub line_id: i64,
    pub quantity: String,
    pub unit_price: String,
}

/// A checked line of a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    pub line_id: i64,
    pub quantity: Decimal,
    pub unit_price: Money,
    pub amount: Money,
}

/// What is left to refund of an invoice.
pub fn refundable(lines: &[RefundableLine]) -> Money {
    Money::sum(lines.iter().map(RefundableLine::remaining)).unwrap_or(Money::ZERO)
}

/// The refund of one line: quantity up to the line's, unit price from zero up to the
/// line's, and the product no more than what is left of the line.
pub fn line_refund(line: &RefundableLine, input: &RefundLineInput) -> Result<RefundLine, String> {
    let name = &line.name;
    let quantity = parse_quantity(&input.quantity).map_err(|e| format!("«{name}»: {e}"))?;
    if quantity > line.quantity {
        return Err(format!(
            "«{name}»: количество не больше {}",
            crate::invoices::rules::format_quantity(line.quantity)
        ));
    }
    let unit_price = Money::parse(&input.unit_price).map_err(|e| format!("«{name}»: {e}"))?;
    if unit_price.is_negative() {
        return Err(format!("«{name}»: стоимость не может быть отрицательной"));
    }
    if unit_price > line.unit_price {
        return Err(format!(
            "«{name}»: стоимость за единицу не больше {}",
            line.unit_price
        ));
    }
    let left = line.remaining();
    if left.is_zero() {
        return Err(format!("«{name}»: нечего возвращать"));
    }
    let amount = unit_price
        .checked_mul_decimal(quantity)
        .ok_or_else(|| format!("Не больше {left} по строке «{name}»"))?;
    if amount > left {
        return Err(format!("Не больше {left} по строке «{name}»"));
    }
    if amount.is_zero() {
        return Err(format!("«{name}»: сумма возврата должна быть больше нуля"));
    }
    Ok(RefundLine {
        line_id: line.line_id,
        quantity,
        unit_price,
        amount,
    })
}

/// The unit price the modal starts a line with: what was paid per unit (the list price
/// less the line's discount, rounded down to the kopeck), so the whole line at this price
/// never exceeds what was paid for it.
pub fn paid_unit_price(line: &RefundableLine) -> Money {
    if line.quantity <= Decimal::ZERO {
        return line.unit_price;
    }
    let per_unit = Decimal::from(line.amount.kopecks())
        .checked_div(line.quantity)
        .map(|d| d.floor())
        .and_then(|d| rust_decimal::prelude::ToPrimitive::to_i64(&d))
        .map(Money::from_kopecks)
        .unwrap_or(line.unit_price);
    per_unit.min(line.unit_price)
}

/// The lines of a refund: everything left (full), or the ticked lines (partial).
pub fn refund_lines(
    lines: &[RefundableLine],
    full: bool,
    inputs: &[RefundLineInput],
) -> Result<Vec<RefundLine>, String> {
    let out: Vec<RefundLine> = if full {
        lines
            .iter()
            .filter(|l| !l.remaining().is_zero())
            .map(|l| RefundLine {
                line_id: l.line_id,
                quantity: l.quantity,
                unit_price: l.unit_price,
                amount: l.remaining(),
            })
            .collect()
    } else {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for input in inputs {
            if seen.contains(&input.line_id) {
                return Err("Позиция указана дважды".into());
            }
            seen.push(input.line_id);
            let line = lines
                .iter()
                .find(|l| l.line_id == input.line_id)
                .ok_or("Такой позиции нет в счёте")?;
            out.push(line_refund(line, input)?);
        }
        out
    };
    if out.is_empty() {
        return Err(if full {
            "По этому счёту всё уже возвращено".into()
        } else {
            "Отметьте позиции для возврата".into()
        });
    }
    Ok(out)
}

pub fn total(lines: &[RefundLine]) -> Money {
    Money::sum(lines.iter().map(|l| l.amount)).unwrap_or(Money::ZERO)
}

/// Why staff cannot refund an invoice now, if they cannot.
pub fn staff_refund_error(
    order: OrderStatus,
    paid_by_card: bool,
    left: Money,
) -> Option<&'static str> {
    if !paid_by_card {
        return Some("Вернуть можно только оплату картой в приложении");
    }
    if order != OrderStatus::InProgress {
        return Some("Возврат оформляется, когда заказ «В работе»");
    }
    if left.is_zero() {
        return Some("По этому счёту всё уже возвращено");
    }
    None
}

/// What the resident may still ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFacts {
    pub refunds_allowed: bool,
    pub refundable: Money,
    pub rejected_before: bool,
    pub open_request: bool,
}

/// Why «Возврат платежа» is not offered, if it is not.
pub fn request_error(f: RequestFacts) -> Option<&'static str> {
    if !f.refunds_allowed {
        return Some("Для этой услуги возврат не предусмотрен");
    }
    if f.rejected_before {
        return Some("Возврат по этой заявке уже был отклонён");
    }
    if f.open_request {
        return Some("Запрос на возврат уже отправлен");
    }
    if f.refundable.is_zero() {
        return Some("Нет оплаты картой, которую можно вернуть");
    }
    None
}

/// The amount a resident asks for: everything refundable, or a typed amount up to it.
pub fn request_amount(full: bool, typed: &str, refundable: Money) -> Result<Money, String> {
    if full {
        return Ok(refundable);
    }
    let amount = Money::parse(typed).map_err(|e| e.to_string())?;
    if amount.is_negative() || amount.is_zero() {
        return Err("Сумма должна быть больше нуля".into());
    }
    if amount > refundable {
        return Err(format!("Не больше {refundable}"));
    }
    Ok(amount)
}

/// The longest reason.
pub const MAX_REASON: usize = 1000;

pub fn reason_error(reason: &str) -> Option<String> {
    let n = reason.trim().chars().count();
    if n == 0 {
        return Some("Укажите причину".into());
    }
    if n > MAX_REASON {
        return Some(format!("Не длиннее {MAX_REASON} символов"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(id: i64, qty: i64, price: i64, amount: i64, refunded: i64) -> RefundableLine {
        RefundableLine {
            line_id: id,
            name: format!("Позиция {id}"),
            unit: "шт.".into(),
            quantity: Decimal::from(qty),
            unit_price: Money::from_kopecks(price),
            amount: Money::from_kopecks(amount),
            refunded: Money::from_kopecks(refunded),
        }
    }

    fn input(id: i64, q: &str, p: &str) -> RefundLineInput {
        RefundLineInput {
            line_id: id,
            quantity: q.into(),
            unit_price: p.into(),
        }
    }

    #[test]
    fn partial_lines_use_quantity_and_unit_price_within_the_line() {
        // 3 × 1 200,00 with 10 % off = 3 240,00 paid.
        let l = line(1, 3, 120_000, 324_000, 0);
        let one = line_refund(&l, &input(1, "1", "1200")).unwrap();
        assert_eq!(one.amount, Money::from_kopecks(120_000));
        // All three at the list price would be 3 600,00: more than was paid, refused with
        // the maximum (it used to be capped silently).
        let all = line_refund(&l, &input(1, "3", "1200")).unwrap_err();
        assert_eq!(
            all,
            "Не больше 3\u{202f}240,00\u{a0}₽ по строке «Позиция 1»"
        );
        // At the paid unit price the whole line goes back, exactly.
        assert_eq!(paid_unit_price(&l), Money::from_kopecks(108_000));
        let paid = line_refund(&l, &input(1, "3", "1080")).unwrap();
        assert_eq!(paid.amount, Money::from_kopecks(324_000));
        assert_eq!(paid.unit_price, Money::from_kopecks(108_000));
        assert!(line_refund(&l, &input(1, "4", "1200"))
            .unwrap_err()
            .contains("не больше 3"));
        assert!(line_refund(&l, &input(1, "1", "-5")).is_err());
        assert!(line_refund(&l, &input(1, "1", "0"))
            .unwrap_err()
            .contains("больше нуля"));
        let done = line(1, 3, 120_000, 324_000, 324_000);
        assert!(line_refund(&done, &input(1, "1", "1200"))
            .unwrap_err()
            .contains("нечего"));
    }

    #[test]
    fn a_unit_price_or_amount_above_the_line_is_refused_not_capped() {
        // A 400,00 ₽ line (1 × 400), nothing refunded yet.
        let l = line(7, 1, 40_000, 40_000, 0);
        let price = line_refund(&l, &input(7, "1", "5000")).unwrap_err();
        assert_eq!(
            price,
            "«Позиция 7»: стоимость за единицу не больше 400,00\u{a0}₽"
        );
        let huge = line_refund(&l, &input(7, "1", "99999")).unwrap_err();
        assert!(huge.contains("не больше 400,00"), "{huge}");
        // 2 × 400 paid, 500 already back: 300 is left, 400 is refused.
        let part = line(8, 2, 40_000, 80_000, 50_000);
        assert_eq!(
            line_refund(&part, &input(8, "1", "400")).unwrap_err(),
            "Не больше 300,00\u{a0}₽ по строке «Позиция 8»"
        );
        let ok = line_refund(&part, &input(8, "1", "300")).unwrap();
        assert_eq!(
            (ok.quantity, ok.unit_price, ok.amount),
            (
                Decimal::ONE,
                Money::from_kopecks(30_000),
                Money::from_kopecks(30_000)
            )
        );
    }

    #[test]
    fn full_refunds_return_what_is_left() {
        let lines = [
            line(1, 1, 50_000, 50_000, 20_000),
            line(2, 2, 10_000, 20_000, 0),
        ];
        let out = refund_lines(&lines, true, &[]).unwrap();
        assert_eq!(total(&out), Money::from_kopecks(50_000));
        assert_eq!(refundable(&lines), Money::from_kopecks(50_000));
        assert!(refund_lines(&lines, false, &[]).is_err());
        assert!(refund_lines(&lines, false, &[input(1, "1", "1"), input(1, "1", "1")]).is_err());
    }

    #[test]
    fn requests_and_staff_refunds_follow_the_rules() {
        let f = RequestFacts {
            refunds_allowed: true,
            refundable: Money::from_kopecks(100),
            rejected_before: false,
            open_request: false,
        };
        assert_eq!(request_error(f), None);
        assert!(request_error(RequestFacts {
            rejected_before: true,
            ..f
        })
        .is_some());
        assert!(request_error(RequestFacts {
            refunds_allowed: false,
            ..f
        })
        .is_some());
        assert!(request_error(RequestFacts {
            open_request: true,
            ..f
        })
        .is_some());
        assert!(request_error(RequestFacts {
            refundable: Money::ZERO,
            ..f
        })
        .is_some());
        assert_eq!(
            request_amount(true, "", Money::from_kopecks(100)),
            Ok(Money::from_kopecks(100))
        );
        assert_eq!(
            request_amount(false, "0,50", Money::from_kopecks(100)),
            Ok(Money::from_kopecks(50))
        );
        assert!(request_amount(false, "1,01", Money::from_kopecks(100)).is_err());
        assert!(request_amount(false, "0", Money::from_kopecks(100)).is_err());
        assert!(staff_refund_error(OrderStatus::Waiting, true, Money::from_kopecks(1)).is_some());
        assert!(
            staff_refund_error(OrderStatus::InProgress, false, Money::from_kopecks(1)).is_some()
        );
        assert!(staff_refund_error(OrderStatus::InProgress, true, Money::ZERO).is_some());
        assert!(
            staff_refund_error(OrderStatus::InProgress, true, Money::from_kopecks(1)).is_none()
        );
    }

    proptest! {
        #[test]
        fn a_partial_refund_never_exceeds_its_lines(
            paid in proptest::collection::vec((1i64..5, 1i64..500_000, 0i64..100), 1..6),
            asks in proptest::collection::vec((1i64..6, 0i64..600_000), 1..6),
        ) {
            let lines: Vec<RefundableLine> = paid
                .iter()
                .enumerate()
                .map(|(i, (q, p, pct_refunded))| {
                    let amount = q * p;
                    line(i as i64, *q, *p, amount, amount * pct_refunded / 100)
                })
                .collect();
            let inputs: Vec<RefundLineInput> = asks
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < lines.len())
                .map(|(i, (q, p))| input(i as i64, &q.to_string(), &Money::from_kopecks(*p).to_string()))
                .collect();
            if let Ok(out) = refund_lines(&lines, false, &inputs) {
                for r in &out {
                    let l = lines.iter().find(|l| l.line_id == r.line_id).unwrap();
                    prop_assert!(r.amount <= l.remaining());
                    prop_assert!(!r.amount.is_negative() && !r.amount.is_zero());
                    // What is stored is exactly what is refunded: price × quantity.
                    prop_assert_eq!(Some(r.amount), r.unit_price.checked_mul_decimal(r.quantity));
                    prop_assert!(r.unit_price <= l.unit_price);
                }
                prop_assert!(total(&out) <= refundable(&lines));
            }
            let full = refund_lines(&lines, true, &[]);
            if let Ok(out) = full {
                prop_assert_eq!(total(&out), refundable(&lines));
            }
        }
    }
}
