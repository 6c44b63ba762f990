//! Receipt arithmetic and checks, pure: the app builds receipts with them and checks them
//! before they leave, and the sandbox provider checks what it is sent with the same code.
//!
//! A line's amount is what the payer pays for it (after any discount). A receipt line must
//! state `price × quantity = amount` exactly, so a discounted line is restated: its price
//! becomes `amount / quantity` when that is a whole number of kopecks, and otherwise the
//! line becomes one unit («1 × amount») of the same name and unit. Nothing is rounded
//! away: the lines always add up to the money that moved.
//!
//! The payer commission (`payments.commission_kopecks`, normally 0) is money the payer
//! paid too: when it is not zero the receipt gets one more line «Комиссия за оплату», a
//! service without VAT, in the same settlement mode as the rest. A refund never returns
//! it, so a refund receipt has no such line; the «Полный расчет» offsetting a prepayment
//! offsets it with the rest.

use crate::money::Money;
use crate::payments::gateway::{
    PaymentMode, PaymentSubject, Receipt, ReceiptKind, ReceiptLine, VAT_CODES,
};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// The name of the payer commission's line.
pub const COMMISSION_LINE: &str = "Комиссия за оплату";
/// The longest line name the providers take (ЮKassa and Т-Банк: 128 characters).
pub const MAX_NAME_CHARS: usize = 128;
/// Most lines in one receipt (ЮKassa: 100).
pub const MAX_LINES: usize = 100;
/// Sending a receipt on its own is tried this many times before it stays «Ошибка».
pub const MAX_ATTEMPTS: i64 = 6;

/// A line as the invoice (or refund) states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    pub name: String,
    pub unit: String,
    pub quantity: Decimal,
    pub unit_price: Money,
    pub amount: Money,
    pub vat_code: String,
    pub subject: PaymentSubject,
}

fn exact(price: Money, quantity: Decimal, amount: Money) -> bool {
    Decimal::from(price.kopecks()).checked_mul(quantity) == Some(Decimal::from(amount.kopecks()))
}

/// `amount / quantity` when it is a whole number of kopecks.
pub fn exact_price(amount: Money, quantity: Decimal) -> Option<Money> {
    if quantity <= Decimal::ZERO {
        return None;
    }
    let price = Decimal::from(amount.kopecks()).checked_div(quantity)?;
    if !price.fract().is_zero() {
        return None;
    }
    let price = Money::from_kopecks(price.to_i64()?);
    exact(price, quantity, amount).then_some(price)
}

/// The receipt line of a source line (see the module's note on discounts).
pub fn line(src: &SourceLine, mode: PaymentMode) -> ReceiptLine {
    let (quantity, price) =
        if src.quantity > Decimal::ZERO && exact(src.unit_price, src.quantity, src.amount) {
            (src.quantity, src.unit_price)
        } else if let Some(price) = exact_price(src.amount, src.quantity) {
            (src.quantity, price)
        } else {
            (Decimal::ONE, src.amount)
        };
    ReceiptLine {
        name: src.name.clone(),
        unit: src.unit.clone(),
        quantity: quantity.normalize(),
        price,
        amount: src.amount,
        vat_code: src.vat_code.clone(),
        subject: src.subject,
        mode,
    }
}

/// «Комиссия за оплату»: one service without VAT.
pub fn commission_line(commission: Money, mode: PaymentMode) -> ReceiptLine {
    ReceiptLine {
        name: COMMISSION_LINE.into(),
        unit: "усл.".into(),
        quantity: Decimal::ONE,
        price: commission,
        amount: commission,
        vat_code: "none".into(),
        subject: PaymentSubject::Service,
        mode,
    }
}

/// The lines of a payment's receipt: the invoice's lines and, when not zero, the payer
/// commission.
pub fn payment_lines(
    lines: &[SourceLine],
    commission: Money,
    mode: PaymentMode,
) -> Vec<ReceiptLine> {
    let mut out: Vec<ReceiptLine> = lines.iter().map(|l| line(l, mode)).collect();
    if !commission.is_zero() {
        out.push(commission_line(commission, mode));
    }
    out
}

/// A receipt kind of a payment: «Предоплата 100%» until the order is «Выполнено»,
/// «Полный расчет» after.
pub fn payment_kind(order_done: bool) -> (ReceiptKind, PaymentMode) {
    if order_done {
        (ReceiptKind::FullPayment, PaymentMode::FullPayment)
    } else {
        (ReceiptKind::Prepayment, PaymentMode::FullPrepayment)
    }
}

/// The settlement mode of a refund receipt: the mode of what it returns — a prepayment not
/// yet offset, or a full payment (a prepayment offset, or a payment after the service).
pub fn refund_mode(payment_kind: ReceiptKind, offset: bool) -> PaymentMode {
    if payment_kind == ReceiptKind::Prepayment && !offset {
        PaymentMode::FullPrepayment
    } else {
        PaymentMode::FullPayment
    }
}

/// What is left of an invoice line after refunds: its quantity and amount less what the
/// refunds (not failed) took; `None` when nothing is left.
pub fn remaining(
    src: &SourceLine,
    refunded_quantity: Decimal,
    refunded: Money,
) -> Option<SourceLine> {
    let amount = src.amount.checked_sub(refunded)?;
    if amount.is_zero() || amount.is_negative() {
        return None;
    }
    Some(SourceLine {
        quantity: src.quantity - refunded_quantity,
        amount,
        ..src.clone()
    })
}

/// The lines of the «Полный расчет» offsetting a prepayment: what is left of each invoice
/// line after refunds, and the commission the payer paid.
pub fn offset_lines(left: &[SourceLine], commission: Money) -> Vec<ReceiptLine> {
    payment_lines(left, commission, PaymentMode::FullPayment)
}

/// The customer of a receipt: the e-mail given on the payment screen, else the phone.
pub fn customer(email: Option<&str>, phone: Option<&str>) -> (Option<String>, Option<String>) {
    match email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => (Some(e.to_owned()), None),
        None => (
            None,
            phone
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        ),
    }
}

fn phone_ok(p: &str) -> bool {
    p.len() == 12 && p.starts_with("+7") && p[1..].chars().all(|c| c.is_ascii_digit())
}

fn email_ok(e: &str) -> bool {
    matches!(e.split_once('@'), Some((a, b)) if !a.is_empty() && b.contains('.') && !e.contains(' '))
}

/// Why a receipt for `amount` is refused, as a provider would refuse it: the lines add up
/// to the amount exactly, each line's amount is its price × quantity to the kopeck, codes
/// are known, and the customer can be reached.
pub fn check(receipt: &Receipt, amount: Money) -> Result<(), String> {
    if receipt.lines.is_empty() {
        return Err("В чеке нет строк".into());
    }
    if receipt.lines.len() > MAX_LINES {
        return Err(format!("В чеке больше {MAX_LINES} строк"));
    }
    for (n, l) in receipt.lines.iter().enumerate() {
        let n = n + 1;
        let name = l.name.trim();
        if name.is_empty() {
            return Err(format!("Строка {n}: нет наименования"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(format!(
                "Строка {n}: наименование длиннее {MAX_NAME_CHARS} символов"
            ));
        }
        if l.quantity <= Decimal::ZERO || l.quantity.normalize().scale() > 3 {
            return Err(format!(
                "Строка {n}: количество должно быть больше нуля, до трёх знаков"
            ));
        }
        if l.price.is_negative() || l.amount.is_negative() {
            return Err(format!("Строка {n}: отрицательная сумма"));
        }
        if !exact(l.price, l.quantity, l.amount) {
            return Err(format!(
                "Строка {n}: сумма {} не равна цене {} × количество {}",
                l.amount, l.price, l.quantity
            ));
        }
        if !VAT_CODES.contains(&l.vat_code.as_str()) {
            return Err(format!(
                "Строка {n}: неизвестная ставка НДС «{}»",
                l.vat_code
            ));
        }
    }
    let total = receipt.total().ok_or("Слишком большая сумма чека")?;
    if total != amount {
        return Err(format!("Сумма строк чека {total} не равна сумме {amount}"));
    }
    match (&receipt.email, &receipt.phone) {
        (Some(e), _) if email_ok(e) => Ok(()),
        (None, Some(p)) if phone_ok(p) => Ok(()),
        (None, None) => Err("В чеке нет e-mail или телефона покупателя".into()),
        _ => Err("Неверный e-mail или телефон покупателя".into()),
    }
}

/// Seconds to wait before trying again a receipt sent `attempts` times: 30 s, doubling,
/// at most an hour.
pub fn retry_after(attempts: i64) -> i64 {
    (30i64 << attempts.clamp(0, 7)).min(3600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::gateway::Taxation;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn m(k: i64) -> Money {
        Money::from_kopecks(k)
    }

    fn src(q: &str, price: i64, amount: i64) -> SourceLine {
        SourceLine {
            name: "Прочистка засора".into(),
            unit: "шт".into(),
            quantity: d(q),
            unit_price: m(price),
            amount: m(amount),
            vat_code: "vat22".into(),
            subject: PaymentSubject::Service,
        }
    }

    fn receipt(lines: Vec<ReceiptLine>) -> Receipt {
        Receipt {
            kind: ReceiptKind::Prepayment,
            taxation: Taxation::Osn,
            email: Some("r@example.ru".into()),
            phone: None,
            lines,
        }
    }

    #[test]
    fn a_line_without_discount_keeps_its_price_and_quantity() {
        let l = line(&src("3", 120_000, 360_000), PaymentMode::FullPrepayment);
        assert_eq!(
            (l.quantity, l.price, l.amount),
            (d("3"), m(120_000), m(360_000))
        );
        assert_eq!(l.mode, PaymentMode::FullPrepayment);
        assert_eq!(l.vat_code, "vat22");
    }

    #[test]
    fn a_discounted_line_takes_the_exact_price_or_becomes_one_unit() {
        // 3 × 1 200,00 − 10 % = 3 240,00 = 3 × 1 080,00
        let l = line(&src("3", 120_000, 324_000), PaymentMode::FullPayment);
        assert_eq!((l.quantity, l.price), (d("3"), m(108_000)));
        // 3 × 100,00 − 0,01 = 299,99: not a whole kopeck per unit → 1 × 299,99
        let l = line(&src("3", 10_000, 29_999), PaymentMode::FullPayment);
        assert_eq!(
            (l.quantity, l.price, l.amount),
            (d("1"), m(29_999), m(29_999))
        );
        assert_eq!(l.name, "Прочистка засора");
        // 1,5 ч × 1 000,00 − 100,00 = 1 400,00 → 1,5 × 933,33… not exact → 1 × 1 400,00
        let l = line(&src("1.5", 100_000, 140_000), PaymentMode::FullPayment);
        assert_eq!((l.quantity, l.price), (d("1"), m(140_000)));
        // 0,5 × 1 000,00 − 100,00 = 400,00 → 0,5 × 800,00
        let l = line(&src("0.5", 100_000, 40_000), PaymentMode::FullPayment);
        assert_eq!((l.quantity, l.price), (d("0.5"), m(80_000)));
    }

    #[test]
    fn exact_price_is_found_only_for_whole_kopecks() {
        assert_eq!(exact_price(m(324_000), d("3")), Some(m(108_000)));
        assert_eq!(exact_price(m(100), d("3")), None);
        assert_eq!(exact_price(m(100), d("0")), None);
        assert_eq!(exact_price(m(150), d("1.5")), Some(m(100)));
    }

    #[test]
    fn the_payer_commission_is_one_more_line_without_vat() {
        let lines = payment_lines(
            &[src("1", 50_000, 50_000)],
            m(1_000),
            PaymentMode::FullPrepayment,
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].name, COMMISSION_LINE);
        assert_eq!(lines[1].vat_code, "none");
        assert_eq!(lines[1].amount, m(1_000));
        assert!(check(&receipt(lines), m(51_000)).is_ok());
        assert_eq!(
            payment_lines(
                &[src("1", 50_000, 50_000)],
                Money::ZERO,
                PaymentMode::FullPayment
            )
            .len(),
            1
        );
    }

    #[test]
    fn receipts_that_do_not_add_up_or_carry_unknown_codes_are_refused() {
        let good = payment_lines(
            &[src("3", 120_000, 324_000), src("1", 50_000, 50_000)],
            Money::ZERO,
            PaymentMode::FullPrepayment,
        );
        assert_eq!(check(&receipt(good.clone()), m(374_000)), Ok(()));
        let e = check(&receipt(good.clone()), m(374_001)).unwrap_err();
        assert!(e.contains("не равна сумме"), "{e}");
        let mut bad = good.clone();
        bad[1].vat_code = "vat99".into();
        assert!(check(&receipt(bad), m(374_000))
            .unwrap_err()
            .contains("Строка 2: неизвестная ставка НДС"));
        let mut bad = good.clone();
        bad[0].price = m(120_000);
        assert!(check(&receipt(bad), m(374_000))
            .unwrap_err()
            .contains("Строка 1: сумма"));
        let mut nobody = receipt(good.clone());
        nobody.email = None;
        assert!(check(&nobody, m(374_000))
            .unwrap_err()
            .contains("e-mail или телефона"));
        nobody.phone = Some("+79000000002".into());
        assert_eq!(check(&nobody, m(374_000)), Ok(()));
        nobody.phone = Some("89000000002".into());
        assert!(check(&nobody, m(374_000)).is_err());
        assert!(check(&receipt(vec![]), Money::ZERO).is_err());
    }

    #[test]
    fn the_offset_is_what_refunds_left_of_each_line_with_the_commission() {
        let lines = [src("3", 120_000, 324_000), src("1", 50_000, 50_000)];
        // One unit of the first line refunded at 1 080,00, the second line in full.
        let left: Vec<SourceLine> = [
            remaining(&lines[0], d("1"), m(108_000)),
            remaining(&lines[1], d("1"), m(50_000)),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(left.len(), 1);
        let offset = offset_lines(&left, m(500));
        assert_eq!(
            (offset[0].quantity, offset[0].price, offset[0].amount),
            (d("2"), m(108_000), m(216_000))
        );
        assert_eq!(offset[0].mode, PaymentMode::FullPayment);
        assert_eq!(offset[1].name, COMMISSION_LINE);
        assert!(check(&receipt(offset), m(216_500)).is_ok());
        // A refund at a lowered price leaves a quantity whose price is not exact: one unit.
        let l = remaining(&lines[1], d("1"), m(10_000)).unwrap();
        let r = line(&l, PaymentMode::FullPayment);
        assert_eq!(
            (r.quantity, r.price, r.amount),
            (d("1"), m(40_000), m(40_000))
        );
    }

    #[test]
    fn kinds_modes_customers_and_retries() {
        assert_eq!(
            payment_kind(false),
            (ReceiptKind::Prepayment, PaymentMode::FullPrepayment)
        );
        assert_eq!(
            payment_kind(true),
            (ReceiptKind::FullPayment, PaymentMode::FullPayment)
        );
        assert_eq!(
            refund_mode(ReceiptKind::Prepayment, false),
            PaymentMode::FullPrepayment
        );
        assert_eq!(
            refund_mode(ReceiptKind::Prepayment, true),
            PaymentMode::FullPayment
        );
        assert_eq!(
            refund_mode(ReceiptKind::FullPayment, false),
            PaymentMode::FullPayment
        );
        assert_eq!(
            customer(Some(" r@example.ru "), Some("+79000000002")),
            (Some("r@example.ru".into()), None)
        );
        assert_eq!(
            customer(Some(""), Some("+79000000002")),
            (None, Some("+79000000002".into()))
        );
        assert_eq!(retry_after(0), 30);
        assert_eq!(retry_after(1), 60);
        assert_eq!(retry_after(20), 3600);
    }
}
