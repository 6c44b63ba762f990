//! Invoice arithmetic and rules, the same in the modal (live totals, greyed actions) and
//! on the server (what holds). One rounding rule: products and percentages are rounded
//! half away from zero to the kopeck, per line; the invoice total is the exact sum of its
//! lines.

use crate::money::Money;
use crate::orders::status::OrderStatus;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Most lines in one invoice.
pub const MAX_LINES: usize = 50;
/// Largest quantity of a line (and of a prepaid order's number field).
pub const MAX_QUANTITY: i64 = 10_000;
/// Largest invoice total: 10 000 000,00 ₽.
pub const MAX_TOTAL: Money = Money::from_kopecks(1_000_000_000);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvoiceStatus {
    Draft,
    Active,
    Paid,
    Cancelled,
}

impl InvoiceStatus {
    pub fn from_db(s: &str) -> Option<InvoiceStatus> {
        Some(match s {
            "draft" => InvoiceStatus::Draft,
            "active" => InvoiceStatus::Active,
            "paid" => InvoiceStatus::Paid,
            "cancelled" => InvoiceStatus::Cancelled,
            _ => return None,
        })
    }

    pub fn as_db(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Active => "active",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Cancelled => "cancelled",
        }
    }

    /// As staff see it.
    pub fn label(self, method: Option<PaidMethod>) -> &'static str {
        match (self, method) {
            (InvoiceStatus::Draft, _) => "Не выставлен",
            (InvoiceStatus::Active, _) => "Выставлен в ЛК, ожидает оплаты",
            (InvoiceStatus::Paid, Some(PaidMethod::Cash)) => "Оплачен (отмечен вручную)",
            (InvoiceStatus::Paid, Some(PaidMethod::Sbp)) => "Оплачен через СБП",
            (InvoiceStatus::Paid, _) => "Оплачен картой",
            (InvoiceStatus::Cancelled, _) => "Отменён",
        }
    }

    pub fn css(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "status cancelled",
            InvoiceStatus::Active => "status waiting",
            InvoiceStatus::Paid => "status done",
            InvoiceStatus::Cancelled => "status cancelled",
        }
    }

    /// Unpaid: it blocks a new invoice and «Выполнено».
    pub fn is_open(self) -> bool {
        matches!(self, InvoiceStatus::Draft | InvoiceStatus::Active)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaidMethod {
    /// Paid by card in the app.
    Card,
    /// «Отметить как оплаченный»: paid another way.
    Cash,
    /// Paid through СБП in the app.
    Sbp,
}

impl PaidMethod {
    pub fn from_db(s: &str) -> Option<PaidMethod> {
        match s {
            "card" => Some(PaidMethod::Card),
            "cash" => Some(PaidMethod::Cash),
            "sbp" => Some(PaidMethod::Sbp),
            _ => None,
        }
    }

    pub fn as_db(self) -> &'static str {
        match self {
            PaidMethod::Card => "card",
            PaidMethod::Cash => "cash",
            PaidMethod::Sbp => "sbp",
        }
    }

    /// Paid in the app through the provider (card or СБП): refunded through it.
    pub fn by_provider(self) -> bool {
        matches!(self, PaidMethod::Card | PaidMethod::Sbp)
    }
}

/// «Действия» of an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvoiceAction {
    Activate,
    MarkPaid,
    Cancel,
}

impl InvoiceAction {
    pub const ALL: [InvoiceAction; 3] = [
        InvoiceAction::Activate,
        InvoiceAction::MarkPaid,
        InvoiceAction::Cancel,
    ];

    pub fn label(self) -> &'static str {
        match self {
            InvoiceAction::Activate => "Активировать в ЛК",
            InvoiceAction::MarkPaid => "Отметить как оплаченный",
            InvoiceAction::Cancel => "Отменить",
        }
    }
}

/// What an action needs to know about the invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceFacts {
    pub status: InvoiceStatus,
    pub paid_method: Option<PaidMethod>,
    /// A card payment was started and has not ended yet.
    pub payment_in_progress: bool,
}

/// Why an action is refused, if it is.
pub fn action_error(action: InvoiceAction, f: InvoiceFacts) -> Option<&'static str> {
    use InvoiceStatus::*;
    match (action, f.status) {
        (_, Cancelled) => Some("Счёт уже отменён"),
        (InvoiceAction::Activate, Draft) => None,
        (InvoiceAction::Activate, Active) => Some("Счёт уже выставлен в ЛК"),
        (InvoiceAction::Activate, Paid) | (InvoiceAction::MarkPaid, Paid) => {
            Some("Счёт уже оплачен")
        }
        (InvoiceAction::MarkPaid, Draft | Active) | (InvoiceAction::Cancel, Draft | Active)
            if f.payment_in_progress =>
        {
            Some("Клиент сейчас оплачивает этот счёт картой. Дождитесь результата оплаты")
        }
        (InvoiceAction::MarkPaid, Draft | Active) => None,
        (InvoiceAction::Cancel, Draft | Active) => None,
        (InvoiceAction::Cancel, Paid) if f.paid_method == Some(PaidMethod::Cash) => None,
        (InvoiceAction::Cancel, Paid) => {
            Some("Оплаченный картой счёт отменить нельзя: верните деньги через возврат")
        }
    }
}

/// Why a new invoice cannot be added, if it cannot.
pub fn new_invoice_error(order: OrderStatus, existing: &[InvoiceStatus]) -> Option<&'static str> {
    if matches!(order, OrderStatus::Done | OrderStatus::Cancelled) {
        return Some("Заказ закрыт: новый счёт выставить нельзя");
    }
    if existing.iter().any(|s| s.is_open()) {
        return Some("Нельзя добавить новый счёт, пока не оплачен предыдущий");
    }
    None
}

/// A discount on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Discount {
    None,
    /// Percent of the line, 0–100, up to two decimal places.
    Percent(Decimal),
    Amount(Money),
}

impl Discount {
    /// `(kind, value)` as stored.
    pub fn to_db(self) -> (&'static str, String) {
        match self {
            Discount::None => ("", String::new()),
            Discount::Percent(p) => ("percent", p.normalize().to_string()),
            Discount::Amount(m) => ("amount", m.kopecks().to_string()),
        }
    }

    pub fn from_db(kind: &str, value: &str) -> Discount {
        match kind {
            "percent" => Decimal::from_str(value)
                .map(Discount::Percent)
                .unwrap_or(Discount::None),
            "amount" => value
                .parse::<i64>()
                .map(|k| Discount::Amount(Money::from_kopecks(k)))
                .unwrap_or(Discount::None),
            _ => Discount::None,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Discount::None => String::new(),
            Discount::Percent(p) => {
                format!("скидка {}%", p.normalize().to_string().replace('.', ","))
            }
            Discount::Amount(m) => format!("скидка {m}"),
        }
    }
}

/// How the discount is typed in the modal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiscountKind {
    #[default]
    None,
    Percent,
    Amount,
}

/// A line as typed in the modal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineInput {
    pub price_item_id: i64,
    pub quantity: String,
    pub discount_kind: DiscountKind,
    pub discount_value: String,
}

/// A price-list item offered in the modal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceItem {
    pub price_item_id: i64,
    pub name: String,
    pub unit: String,
    pub price: Money,
}

/// A checked line with its amounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub price_item_id: i64,
    pub name: String,
    pub unit: String,
    pub unit_price: Money,
    pub quantity: Decimal,
    pub discount: Discount,
    /// Unit price × quantity.
    pub gross: Money,
    /// Gross − discount, never negative.
    pub amount: Money,
}

fn parse_decimal(text: &str) -> Option<Decimal> {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    if cleaned.is_empty() || cleaned.starts_with('+') {
        return None;
    }
    Decimal::from_str(&cleaned).ok()
}

/// A quantity: positive, at most three decimal places, at most [`MAX_QUANTITY`].
pub fn parse_quantity(text: &str) -> Result<Decimal, String> {
    let q = parse_decimal(text).ok_or("Количество — число, например 1 или 2,5")?;
    if q <= Decimal::ZERO {
        return Err("Количество должно быть больше нуля".into());
    }
    if q.normalize().scale() > 3 {
        return Err("Не больше трёх знаков после запятой".into());
    }
    if q > Decimal::from(MAX_QUANTITY) {
        return Err(format!("Количество не больше {MAX_QUANTITY}"));
    }
    Ok(q.normalize())
}

/// A discount as typed: a percent 0–100 (two decimals) or an amount in roubles.
pub fn parse_discount(kind: DiscountKind, text: &str) -> Result<Discount, String> {
    match kind {
        DiscountKind::None => Ok(Discount::None),
        _ if text.trim().is_empty() => Ok(Discount::None),
        DiscountKind::Percent => {
            let p = parse_decimal(text).ok_or("Скидка в процентах — число от 0 до 100")?;
            if p < Decimal::ZERO || p > Decimal::from(100) {
                return Err("Скидка в процентах — число от 0 до 100".into());
            }
            if p.normalize().scale() > 2 {
                return Err("Не больше двух знаков после запятой".into());
            }
            Ok(Discount::Percent(p.normalize()))
        }
        DiscountKind::Amount => {
            let m = Money::parse(text).map_err(|e| e.to_string())?;
            if m.is_negative() {
                return Err("Скидка не может быть отрицательной".into());
            }
            Ok(Discount::Amount(m))
        }
    }
}

/// The amounts of a line: gross, discount and what remains, all to the kopeck.
pub fn line_amounts(
    unit_price: Money,
    quantity: Decimal,
    discount: Discount,
) -> Result<(Money, Money), String> {
    let too_big = || "Слишком большая сумма".to_owned();
    let gross = unit_price
        .checked_mul_decimal(quantity)
        .ok_or_else(too_big)?;
    let off = match discount {
        Discount::None => Money::ZERO,
        Discount::Percent(p) => gross
            .checked_mul_decimal(p / Decimal::from(100))
            .ok_or_else(too_big)?,
        Discount::Amount(m) => m,
    };
    if off > gross {
        return Err("Скидка больше суммы строки".into());
    }
    let amount = gross.checked_sub(off).ok_or_else(too_big)?;
    Ok((gross, amount))
}

/// Checks one typed line against the offered price list.
pub fn check_line(items: &[PriceItem], input: &LineInput) -> Result<Line, String> {
    let item = items
        .iter()
        .find(|i| i.price_item_id == input.price_item_id)
        .ok_or("Выберите позицию из прайс-листа исполнителя")?;
    let quantity = parse_quantity(&input.quantity)?;
    let discount = parse_discount(input.discount_kind, &input.discount_value)?;
    priced_line(item, quantity, discount)
}

/// A line of `item` at its list price: its amounts worked out, within the bounds.
fn priced_line(item: &PriceItem, quantity: Decimal, discount: Discount) -> Result<Line, String> {
    let (gross, amount) = line_amounts(item.price, quantity, discount)?;
    Ok(Line {
        price_item_id: item.price_item_id,
        name: item.name.clone(),
        unit: item.unit.clone(),
        unit_price: item.price,
        quantity,
        discount,
        gross,
        amount,
    })
}

/// Checks all lines of a new invoice; errors name the line (1-based).
pub fn check_lines(items: &[PriceItem], inputs: &[LineInput]) -> Result<Vec<Line>, String> {
    if inputs.is_empty() {
        return Err("Добавьте хотя бы одну позицию".into());
    }
    if inputs.len() > MAX_LINES {
        return Err(format!("Не больше {MAX_LINES} позиций в счёте"));
    }
    let lines = inputs
        .iter()
        .enumerate()
        .map(|(n, l)| check_line(items, l).map_err(|e| format!("Позиция {}: {e}", n + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let total = total(&lines).ok_or_else(total_too_big)?;
    if let Some(e) = total_error(total) {
        return Err(e);
    }
    Ok(lines)
}

fn total_too_big() -> String {
    format!("Сумма счёта не больше {MAX_TOTAL}")
}

/// Why an invoice total is refused, if it is: it is more than zero and at most
/// [`MAX_TOTAL`].
pub fn total_error(total: Money) -> Option<String> {
    if total.is_zero() || total.is_negative() {
        return Some("Сумма счёта должна быть больше нуля".into());
    }
    if total > MAX_TOTAL {
        return Some(total_too_big());
    }
    None
}

/// The one line of a prepaid order's invoice: the service's price × the number typed in
/// its form (1 when the form has none), within the quantity and total bounds.
pub fn prepaid_line(item: &PriceItem, quantity: Option<i64>) -> Result<Line, String> {
    let quantity = match quantity {
        None => Decimal::ONE,
        Some(q) => parse_quantity(&q.to_string())?,
    };
    let line = priced_line(item, quantity, Discount::None)?;
    match total_error(line.amount) {
        Some(e) => Err(e),
        None => Ok(line),
    }
}

/// The invoice total: the exact sum of its lines.
pub fn total(lines: &[Line]) -> Option<Money> {
    Money::sum(lines.iter().map(|l| l.amount))
}

/// What the resident pays on top of the invoice for paying by card (percent of the
/// amount, rounded half away from zero to the kopeck).
pub fn payer_commission(amount: Money, percent: Decimal) -> Option<Money> {
    amount.checked_mul_decimal(percent / Decimal::from(100))
}

/// A quantity as shown: «2,5».
pub fn format_quantity(q: Decimal) -> String {
    q.normalize().to_string().replace('.', ",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item(id: i64, kopecks: i64) -> PriceItem {
        PriceItem {
            price_item_id: id,
            name: format!("Позиция {id}"),
            unit: "шт.".into(),
            price: Money::from_kopecks(kopecks),
        }
    }

    fn input(id: i64, q: &str, kind: DiscountKind, v: &str) -> LineInput {
        LineInput {
            price_item_id: id,
            quantity: q.into(),
            discount_kind: kind,
            discount_value: v.into(),
        }
    }

    #[test]
    fn lines_round_to_the_kopeck_half_away_from_zero() {
        let items = [item(1, 33_333), item(2, 10_001)];
        // 333,33 × 1,5 = 499,995 → 500,00
        let l = check_line(&items, &input(1, "1,5", DiscountKind::None, "")).unwrap();
        assert_eq!(l.amount, Money::from_kopecks(50_000));
        // 100,01 × 3 = 300,03; 15 % = 45,0045 → 45,00; 255,03 remains
        let l = check_line(&items, &input(2, "3", DiscountKind::Percent, "15")).unwrap();
        assert_eq!((l.gross.kopecks(), l.amount.kopecks()), (30_003, 25_503));
        let l = check_line(&items, &input(2, "1", DiscountKind::Amount, "100,01")).unwrap();
        assert_eq!(l.amount, Money::ZERO);
    }

    #[test]
    fn bad_lines_are_refused_with_reasons() {
        let items = [item(1, 10_000)];
        let err = |i: LineInput| check_line(&items, &i).unwrap_err();
        assert!(err(input(9, "1", DiscountKind::None, "")).contains("прайс-листа"));
        assert!(err(input(1, "0", DiscountKind::None, "")).contains("больше нуля"));
        assert!(err(input(1, "-1", DiscountKind::None, "")).contains("больше нуля"));
        assert!(err(input(1, "1,0005", DiscountKind::None, "")).contains("трёх знаков"));
        assert!(err(input(1, "два", DiscountKind::None, "")).contains("число"));
        assert!(err(input(1, "1", DiscountKind::Percent, "101")).contains("от 0 до 100"));
        assert!(err(input(1, "1", DiscountKind::Amount, "100,01")).contains("больше суммы"));
        assert!(check_lines(&items, &[])
            .unwrap_err()
            .contains("хотя бы одну"));
        assert!(
            check_lines(&items, &[input(1, "1", DiscountKind::Percent, "100")])
                .unwrap_err()
                .contains("больше нуля")
        );
    }

    #[test]
    fn quantities_and_totals_are_bounded() {
        let items = [item(1, 40_000), item(2, 99_999_999)];
        let err = |i: LineInput| check_line(&items, &i).unwrap_err();
        assert_eq!(
            err(input(1, "1000000000000", DiscountKind::None, "")),
            "Количество не больше 10000"
        );
        assert_eq!(
            err(input(1, "10000,001", DiscountKind::None, "")),
            "Количество не больше 10000"
        );
        assert!(check_line(&items, &input(1, "10000", DiscountKind::None, "")).is_ok());
        // 999 999,99 ₽ × 11 is above 10 000 000 ₽; × 10 is within.
        assert_eq!(
            check_lines(&items, &[input(2, "11", DiscountKind::None, "")]).unwrap_err(),
            "Сумма счёта не больше 10\u{202f}000\u{202f}000,00\u{a0}₽"
        );
        assert!(check_lines(&items, &[input(2, "10", DiscountKind::None, "")]).is_ok());
        // Fifty lines each within the bound cannot add up past it either.
        let many: Vec<LineInput> = (0..MAX_LINES)
            .map(|_| input(2, "10000", DiscountKind::None, ""))
            .collect();
        assert!(check_lines(&items, &many)
            .unwrap_err()
            .contains("не больше"));
        // A prepaid order's number is the invoice quantity: 10¹² is refused, not billed.
        assert!(prepaid_line(&items[0], Some(1_000_000_000_000))
            .unwrap_err()
            .contains("не больше 10000"));
        assert!(prepaid_line(&items[0], Some(0)).is_err());
        assert_eq!(
            prepaid_line(&items[0], Some(3)).unwrap().amount,
            Money::from_kopecks(120_000)
        );
        assert_eq!(
            prepaid_line(&items[0], None).unwrap().quantity,
            Decimal::ONE
        );
        assert!(prepaid_line(&items[1], Some(10_000))
            .unwrap_err()
            .contains("Сумма счёта не больше"));
    }

    #[test]
    fn actions_follow_the_seed_rules() {
        use InvoiceAction::*;
        use InvoiceStatus::*;
        let f = |status, paid_method, payment_in_progress| InvoiceFacts {
            status,
            paid_method,
            payment_in_progress,
        };
        assert_eq!(action_error(Activate, f(Draft, None, false)), None);
        assert!(action_error(Activate, f(Active, None, false)).is_some());
        assert_eq!(action_error(MarkPaid, f(Active, None, false)), None);
        assert_eq!(action_error(Cancel, f(Active, None, false)), None);
        assert!(action_error(Cancel, f(Active, None, true)).is_some());
        assert!(action_error(MarkPaid, f(Active, None, true)).is_some());
        assert_eq!(
            action_error(Cancel, f(Paid, Some(PaidMethod::Cash), false)),
            None
        );
        assert!(action_error(Cancel, f(Paid, Some(PaidMethod::Card), false))
            .unwrap()
            .contains("возврат"));
        assert!(action_error(Cancel, f(Cancelled, None, false)).is_some());
        assert!(new_invoice_error(OrderStatus::InProgress, &[Paid, Cancelled]).is_none());
        assert!(new_invoice_error(OrderStatus::InProgress, &[Paid, Active]).is_some());
        assert!(new_invoice_error(OrderStatus::Waiting, &[Draft]).is_some());
        assert!(new_invoice_error(OrderStatus::Done, &[]).is_some());
    }

    proptest! {
        #[test]
        fn a_line_is_never_negative_and_never_above_its_gross(
            price in 0i64..10_000_000,
            qty_milli in 1i64..1_000_000,
            percent_centi in 0i64..=10_000,
            amount_off in 0i64..10_000_000,
            use_percent in any::<bool>(),
        ) {
            let q = Decimal::new(qty_milli, 3);
            let d = if use_percent {
                Discount::Percent(Decimal::new(percent_centi, 2))
            } else {
                Discount::Amount(Money::from_kopecks(amount_off))
            };
            match line_amounts(Money::from_kopecks(price), q, d) {
                Ok((gross, amount)) => {
                    prop_assert!(!amount.is_negative());
                    prop_assert!(amount <= gross);
                    // gross is the exact product rounded once
                    let exact = Decimal::from(price) * q;
                    let diff = (Decimal::from(gross.kopecks()) - exact).abs();
                    prop_assert!(diff <= Decimal::new(5, 1));
                }
                Err(e) => prop_assert!(!use_percent && e.contains("больше суммы")),
            }
        }

        #[test]
        fn the_total_is_the_exact_sum_of_lines(prices in proptest::collection::vec(1i64..1_000_000, 1..20)) {
            let items: Vec<PriceItem> = prices.iter().enumerate().map(|(i, p)| item(i as i64, *p)).collect();
            let inputs: Vec<LineInput> = (0..prices.len()).map(|i| input(i as i64, "2", DiscountKind::Percent, "10")).collect();
            let lines = check_lines(&items, &inputs).unwrap();
            let sum: i64 = lines.iter().map(|l| l.amount.kopecks()).sum();
            prop_assert_eq!(total(&lines).unwrap().kopecks(), sum);
        }
    }
}
