//! The authorization matrix (issue 16): every server function — read from the
//! server-function registry at run time, so a new one without an entry fails — every route
//! of the router (read from `src/server/mod.rs`) and every page (from the route list of
//! the app), each called over HTTP by nine callers, with the answer each one must get.
//!
//! Callers: anonymous, the resident who owns the order, another resident, the
//! assigned-only employee on his own order and on an order assigned to someone else, the
//! read-only employee, the accountant, the dispatcher and the administrator.
//!
//! Expected answers, one letter per caller in [`CALLERS`] order:
//! `A` allowed (any answer that is not a refusal: data, or a Validation / Rule / Conflict /
//! RateLimited answer to the harmless arguments used), `U` 401 (or a redirect to sign in),
//! `F` 403, `N` 404, `D` 403 or 404, `E` no data: refused (403/404, or an error such as
//! «enter the full phone number») or an empty list, `R` 404 or a streamed page that shows
//! «Не найдено» (a page not rendered whole may have answered 200 before its data were
//! refused).
//!
//! Every refusal must change nothing: a fingerprint of the database (per table the row
//! count and a hash of all rows) and of the stored files is compared before and after.
//! Left out of the fingerprint, because they change on requests by design:
//! `sessions` (sign-in and sign-out) and the rate-limit counters `rate_events` (formerly
//! `auth_attempts`): a refused call may still count against a limit.

use crate::common::{self, scalar};

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use suz::error::AppError;
use suz::time::now;
use tower::ServiceExt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Owner,
    OtherResident,
    MasterAssigned,
    MasterNotAssigned,
    Viewer,
    Accountant,
    Dispatcher,
    Admin,
}

const CALLERS: [Caller; 9] = [
    Caller::Anonymous,
    Caller::Owner,
    Caller::OtherResident,
    Caller::MasterAssigned,
    Caller::MasterNotAssigned,
    Caller::Viewer,
    Caller::Accountant,
    Caller::Dispatcher,
    Caller::Admin,
];

/// The objects of one order that calls point at.
#[derive(Debug, Clone)]
struct Target {
    order: i64,
    invoice: i64,
    payment: i64,
    /// Uploaded by the administrator; downloaded by the matrix.
    attachment: i64,
    /// Uploaded by the administrator; `delete_attachment` deletes it.
    attachment_del: i64,
    /// A photo the owner sent in the order's chat.
    chat_photo: i64,
    refund_request: i64,
}

/// Everything else the calls need.
#[derive(Debug, Clone)]
struct Fx {
    /// Order of +79000000001 assigned to master@demo.ru, card-paid, «В работе».
    a: Target,
    /// Order of +79000000001 assigned to cleaner@demo.ru (another legal entity), the same.
    b: Target,
    owner: i64,
    owner_premises: i64,
    owner_upload: i64,
    card: i64,
    notification: i64,
    dialogue: i64,
    draft: i64,
    export_id: String,
    import_id: String,
    cover_id: String,
    category: i64,
    /// «Устранение засора» (ООО «СантехСервис», master's legal entity).
    own_service: i64,
    /// «Мойка окон» (ООО «ЧистоДом»).
    foreign_service: i64,
    /// «Замена смесителя», with the pre-order chat.
    chat_service: i64,
    partner_entity: i64,
    cleaner: i64,
    viewer_role: i64,
    spare_resident: i64,
    spare_premises: i64,
    period_now: String,
    period_prev: String,
    price_xlsx: Vec<u8>,
}

/// A request of the matrix.
enum Call {
    /// A server function, form-encoded like the browser sends it.
    Form(Vec<(&'static str, String)>),
    /// A server function with `input = Json`.
    Json(Value),
    Get(String),
    /// POST of a multipart form with one file.
    Upload {
        path: String,
        field: &'static str,
        name: &'static str,
        bytes: Vec<u8>,
    },
    Post {
        path: String,
        content_type: &'static str,
        body: Vec<u8>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    ServerFn,
    Route,
    Page,
}

type Make = fn(&Fx, &Target, Caller) -> Call;

struct Row {
    kind: Kind,
    /// The server function's endpoint, the route's or the page's path pattern.
    key: &'static str,
    expect: &'static str,
    make: Make,
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// A tiny valid PNG (1 × 1).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

fn tag(c: Caller) -> String {
    format!("{c:?}").to_lowercase()
}

/// Every server function. Columns: anonymous, owner, other resident, master on his order,
/// master on another's order, viewer, accountant, dispatcher, administrator.
fn server_fns() -> Vec<Row> {
    fn f(key: &'static str, expect: &'static str, make: Make) -> Row {
        Row {
            kind: Kind::ServerFn,
            key,
            expect,
            make,
        }
    }
    use Call::{Form, Json as J};
    vec![
        // Sign-in: open to everyone; called with input that is refused before anything
        // is counted or sent (a real sign-in would end the caller's session).
        f("staff_sign_in", "AAAAAAAAA", |_, _, _| {
            Form(vec![("email", s("admin@demo.ru")), ("password", s(""))])
        }),
        f("resident_request_code", "AAAAAAAAA", |_, _, _| {
            Form(vec![("phone", s("12"))])
        }),
        f("resident_sign_in", "AAAAAAAAA", |_, _, _| {
            Form(vec![("phone", s("+79000000010")), ("code", s(""))])
        }),
        f("whoami", "AAAAAAAAA", |_, _, _| Form(vec![])),
        // Catalog: anyone signed in.
        f("catalog_categories", "UAAAAAAAA", |_, _, _| Form(vec![])),
        f("category_services", "UAAAAAAAA", |fx, _, _| {
            Form(vec![("category_id", s(fx.category))])
        }),
        f("search_services", "UAAAAAAAA", |_, _, _| {
            Form(vec![("query", s("засор"))])
        }),
        f("service_card", "UAAAAAAAA", |fx, _, _| {
            Form(vec![("service_id", s(fx.own_service))])
        }),
        // Administration: administrators only.
        f("fetch_admin_roles", "UFFFFFFFA", |_, _, _| Form(vec![])),
        f("admin_save_role", "UFFFFFFFA", |_, _, c| {
            J(
                json!({"role_id": null, "role": {"name": format!("Роль {}", tag(c)),
                "orders": "None", "orders_edit": false, "clients_chat": false,
                "finance": false, "admin": false}}),
            )
        }),
        // A role in use: the administrator's answer is a rule refusal.
        f("admin_delete_role", "UFFFFFFFA", |fx, _, _| {
            Form(vec![("role_id", s(fx.viewer_role))])
        }),
        f("fetch_admin_staff", "UFFFFFFFA", |_, _, _| Form(vec![])),
        f("admin_save_staff", "UFFFFFFFA", |fx, _, c| {
            Form(vec![
                ("email", format!("new-{}@demo.ru", tag(c))),
                ("full_name", s("Новый Сотрудник")),
                ("role_id", s(fx.viewer_role)),
                ("legal_entity_id", s(fx.partner_entity)),
                ("password", s("long-enough-password")),
            ])
        }),
        f("admin_staff_password", "UFFFFFFFA", |fx, _, _| {
            Form(vec![
                ("staff_id", s(fx.cleaner)),
                ("password", s("another-password-1")),
            ])
        }),
        f("admin_staff_active", "UFFFFFFFA", |fx, _, _| {
            Form(vec![("staff_id", s(fx.cleaner)), ("active", s(true))])
        }),
        f("fetch_admin_entities", "UFFFFFFFA", |_, _, _| Form(vec![])),
        f("admin_save_entity", "UFFFFFFFA", |fx, _, _| {
            Form(vec![
                ("legal_entity_id", s(fx.partner_entity)),
                ("name", s("ООО «СантехСервис»")),
                ("kind", s("partner")),
                ("inn", s("7707654321")),
                ("details", s("")),
            ])
        }),
        f("fetch_admin_price_list", "UFFFFFFFA", |fx, _, _| {
            Form(vec![("legal_entity_id", s(fx.partner_entity))])
        }),
        f("admin_save_price_item", "UFFFFFFFA", |fx, _, _| {
            Form(vec![
                ("legal_entity_id", s(fx.partner_entity)),
                ("name", s("Проверка доступа")),
                ("unit", s("шт.")),
                ("price", s("100")),
            ])
        }),
        f("fetch_admin_vat_rates", "UFFFFFFFA", |_, _, _| Form(vec![])),
        f("admin_save_entity_receipts", "UFFFFFFFA", |fx, _, _| {
            Form(vec![
                ("legal_entity_id", s(fx.partner_entity)),
                ("taxation", s("osn")),
                ("receipts_via", s("acquirer")),
            ])
        }),
        f("fetch_admin_payment_settings", "UFFFFFFFA", |fx, _, _| {
            Form(vec![("legal_entity_id", s(fx.partner_entity))])
        }),
        f("admin_save_payment_account", "UFFFFFFFA", |fx, _, _| {
            Form(vec![
                ("legal_entity_id", s(fx.partner_entity)),
                ("provider", s("sandbox")),
            ])
        }),
        f("admin_disable_payment_account", "UFFFFFFFA", |fx, _, _| {
            Form(vec![("legal_entity_id", s(fx.partner_entity))])
        }),
        f("fetch_admin_import_report", "UFFFFFFFA", |fx, _, _| {
            Form(vec![("import_id", fx.import_id.clone())])
        }),
        f("fetch_admin_catalog", "UFFFFFFFA", |_, _, _| Form(vec![])),
        f("admin_save_category", "UFFFFFFFA", |_, _, c| {
            Form(vec![
                ("name", format!("Категория {}", tag(c))),
                ("background", s("#336699")),
                ("icon", s("🔧")),
                ("position", s("")),
            ])
        }),
        f("fetch_admin_service", "UFFFFFFFA", |fx, _, _| {
            Form(vec![("service_id", s(fx.own_service))])
        }),
        // An empty form: the administrator gets the form's field errors.
        f("admin_save_service", "UFFFFFFFA", |fx, _, _| {
            J(
                json!({"form": {"service_id": null, "category_id": fx.category,
                "legal_entity_id": fx.partner_entity, "name": "", "short_description": "",
                "description": "", "cover": "", "default_assignee_id": null,
                "sla_take_hours": "", "sla_done_hours": "", "prepaid": false,
                "preorder_chat": false, "refunds_allowed": true, "require_attachment": false,
                "published": false, "fields": [], "price_item_ids": []}}),
            )
        }),
        f("fetch_admin_residents", "UFFFFFFFA", |_, _, _| {
            Form(vec![("q", s(""))])
        }),
        f("admin_save_resident", "UFFFFFFFA", |_, _, c| {
            let n = CALLERS.iter().position(|x| *x == c).unwrap_or(0);
            Form(vec![
                ("phone", format!("+7955000000{n}")),
                ("full_name", s("Новый Житель")),
                ("email", s("")),
            ])
        }),
        f("admin_resident_blocked", "UFFFFFFFA", |fx, _, _| {
            Form(vec![
                ("resident_id", s(fx.spare_resident)),
                ("blocked", s(false)),
            ])
        }),
        f("admin_add_premises", "UFFFFFFFA", |fx, _, _| {
            Form(vec![
                ("resident_id", s(fx.spare_resident)),
                ("address", s("ул. Проверочная, д. 1, кв. 1")),
            ])
        }),
        f("admin_remove_premises", "UFFFFFFFA", |fx, _, _| {
            Form(vec![
                ("resident_id", s(fx.spare_resident)),
                ("premises_id", s(fx.spare_premises)),
            ])
        }),
        f("fetch_admin_audit", "UFFFFFFFA", |_, _, _| Form(vec![])),
        f("fetch_role_notifications", "UFFFFFFFA", |_, _, _| {
            Form(vec![])
        }),
        f("save_role_notifications", "UFFFFFFFA", |fx, _, _| {
            J(json!({"role_id": fx.viewer_role,
                "settings": suz::notifications::rules::NotificationSettings::default()}))
        }),
        // Finance: the accountant and the administrator.
        f("fetch_finance_overview", "UFFFFFAFA", |fx, _, _| {
            Form(vec![("period", fx.period_now.clone())])
        }),
        f("fetch_period_report", "UFFFFFAFA", |fx, _, _| {
            Form(vec![
                ("legal_entity_id", s(fx.partner_entity)),
                ("period", fx.period_now.clone()),
            ])
        }),
        f("fetch_reconciliation", "UFFFFFAFA", |fx, _, _| {
            Form(vec![
                ("legal_entity_id", s(fx.partner_entity)),
                ("period", fx.period_now.clone()),
            ])
        }),
        f("fetch_order_finance", "UFFFFFAFA", |_, t, _| {
            Form(vec![("order_id", s(t.order))])
        }),
        f("close_settlement", "UFFFFFAFA", |fx, _, _| {
            Form(vec![
                ("legal_entity_id", s(fx.partner_entity)),
                ("period", fx.period_prev.clone()),
            ])
        }),
        f("fetch_finance_terms", "UFFFFFAFA", |_, _, _| Form(vec![])),
        // A date long past: the answer is a refusal of the date, nothing is added.
        f("add_commission_term", "UFFFFFAFA", |fx, _, _| {
            Form(vec![
                ("legal_entity_id", s(fx.partner_entity)),
                ("percent", s("10")),
                ("minimum", s("0")),
                ("fixed", s("0")),
                ("effective_from", s("01.01.2000")),
            ])
        }),
        f("add_acquiring_rate", "UFFFFFAFA", |_, _, _| {
            Form(vec![
                ("method", s("card")),
                ("percent", s("2,2")),
                ("fixed", s("0")),
                ("effective_from", s("01.01.2000")),
            ])
        }),
        // Invoices of an order.
        f("order_invoices", "UFFANAFAA", |_, t, _| {
            Form(vec![("order_id", s(t.order))])
        }),
        f("invoice_price_items", "UFFANFFAA", |_, t, _| {
            Form(vec![("order_id", s(t.order))])
        }),
        f("create_invoice", "UFFANFFAA", |_, t, _| {
            J(json!({"order_id": t.order, "lines": []}))
        }),
        // Activating a paid invoice: a rule refusal for those allowed.
        f("invoice_action", "UFFANFFAA", |_, t, _| {
            J(json!({"invoice_id": t.invoice, "action": "Activate"}))
        }),
        // Staff orders.
        f("list_orders", "UFFFFAFAA", |_, _, _| {
            J(
                json!({"scope": "All", "filter": suz::orders::filter::OrderFilter::default(),
                "after": null}),
            )
        }),
        f("order_filter_options", "UFFAAAFAA", |_, _, _| Form(vec![])),
        f("order_card", "UFFANADAA", |_, t, _| {
            Form(vec![("order_id", s(t.order))])
        }),
        // The card page in one request: the card's check, then the orders section's.
        f("order_card_page", "UFFANADAA", |_, t, _| {
            Form(vec![("order_id", s(t.order))])
        }),
        // «Чеки» of the card: the card's own check.
        f("order_receipts", "UFFANADAA", |_, t, _| {
            Form(vec![("order_id", s(t.order))])
        }),
        // A stale version: those allowed get a conflict, nothing changes.
        f("change_order_state", "UFFANFFAA", |_, t, _| {
            Form(vec![
                ("order_id", s(t.order)),
                ("version", s(0)),
                ("status", s("done")),
                ("comment", s("")),
            ])
        }),
        f("reveal_phone", "UFFANADAA", |_, t, _| {
            Form(vec![("order_id", s(t.order))])
        }),
        f("order_history", "UFFANADAA", |_, t, _| {
            Form(vec![("order_id", s(t.order))])
        }),
        f("order_comments", "UFFANADAA", |_, t, _| {
            Form(vec![("order_id", s(t.order))])
        }),
        f("add_order_comment", "UFFANFFAA", |_, t, c| {
            Form(vec![
                ("order_id", s(t.order)),
                ("body", format!("Комментарий {}", tag(c))),
            ])
        }),
        // Drafts and staff-made orders. An assigned-only employee finds residents only by
        // a full phone number, and orders only services of his own legal entity.
        f("find_residents", "UFFEEFFAA", |_, _, _| {
            Form(vec![("query", s("Иванов"))])
        }),
        f("find_residents", "UFFAAFFAA", |_, _, _| {
            Form(vec![("query", s("+79000000001"))])
        }),
        f("service_forms", "UFFAAFFAA", |_, _, _| Form(vec![])),
        f("save_staff_order", "UFFAAFFAA", |fx, _, _| {
            J(json!({"draft_id": null, "resident_id": fx.owner,
                "premises_id": fx.owner_premises, "service_id": fx.own_service,
                "values": [], "submit": false}))
        }),
        f("save_staff_order", "UFFDDFFAA", |fx, _, _| {
            J(json!({"draft_id": null, "resident_id": fx.owner,
                "premises_id": fx.owner_premises, "service_id": fx.foreign_service,
                "values": [], "submit": false}))
        }),
        // The dispatcher's draft.
        f("load_draft", "UFFNNFFAA", |fx, _, _| {
            Form(vec![("order_id", s(fx.draft))])
        }),
        f("list_drafts", "UFFAAFFAA", |_, _, _| Form(vec![])),
        // Exports: the list's readers; an export is its author's (the dispatcher's).
        f("start_export", "UFFFFAFAA", |_, _, _| {
            J(json!({"scope": "All", "filter": suz::orders::filter::OrderFilter::default()}))
        }),
        f("export_progress", "UFFNNNFAN", |fx, _, _| {
            Form(vec![("export_id", fx.export_id.clone())])
        }),
        // Attachments: the editors of the order (only the uploader or an administrator
        // deletes: the others get a rule refusal).
        f("delete_attachment", "UFFANFFAA", |_, t, _| {
            Form(vec![("attachment_id", s(t.attachment_del))])
        }),
        // Chat of an order.
        f("order_chat", "UFFANAFAA", |_, t, _| {
            Form(vec![("order_id", s(t.order))])
        }),
        f("send_order_message", "UFFANFFAA", |_, t, c| {
            J(json!({"order_id": t.order, "body": "Проверка доступа",
                "key": format!("matrix-{}", tag(c)), "photos": []}))
        }),
        f("request_chat", "UANFFFFFF", |_, t, _| {
            Form(vec![("order_id", s(t.order))])
        }),
        f("send_request_message", "UANFFFFFF", |_, t, c| {
            J(json!({"order_id": t.order, "body": "Проверка доступа",
                "key": format!("matrix-{}", tag(c)), "photos": []}))
        }),
        f("open_dialogue", "UAAFFFFFF", |fx, _, _| {
            Form(vec![("service_id", s(fx.chat_service))])
        }),
        f("fetch_dialogue", "UANFFFFAA", |fx, _, _| {
            Form(vec![("dialogue_id", s(fx.dialogue))])
        }),
        f("send_dialogue_message", "UANFFFFAA", |fx, _, c| {
            J(
                json!({"dialogue_id": fx.dialogue, "body": "Проверка доступа",
                "key": format!("matrix-{}", tag(c)), "photos": []}),
            )
        }),
        f("staff_dialogues", "UFFFFFFAA", |_, _, _| Form(vec![])),
        f("dialogue_to_order", "UFFFFFFAA", |fx, _, _| {
            Form(vec![("dialogue_id", s(fx.dialogue))])
        }),
        // Notifications: everyone their own.
        f("notification_count", "UAAAAAAAA", |_, _, _| Form(vec![])),
        f("my_notifications", "UAAAAAAAA", |_, _, _| Form(vec![])),
        f("open_notification", "UANNNNNNN", |fx, _, _| {
            Form(vec![("notification_id", s(fx.notification))])
        }),
        f("read_all_notifications", "UAAAAAAAA", |_, _, _| {
            Form(vec![])
        }),
        f("push_key", "UAAAAAAAA", |_, _, _| Form(vec![])),
        f("subscribe_push", "UAAAAAAAA", |_, _, c| {
            J(
                json!({"endpoint": format!("https://push.example.org/{}", tag(c)),
                "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
                "auth": "tBHItJI5svbpez7KI4CCXg"}),
            )
        }),
        f("unsubscribe_push", "UAAAAAAAA", |_, _, c| {
            J(json!({"endpoint": format!("https://push.example.org/{}", tag(c))}))
        }),
        // Refunds.
        f("order_refunds", "UFFANAFAA", |_, t, _| {
            Form(vec![("order_id", s(t.order))])
        }),
        f("refund_form", "UFFANFFAA", |_, t, _| {
            Form(vec![("invoice_id", s(t.invoice))])
        }),
        // No lines ticked: those allowed are told to choose what to refund.
        f("create_refund", "UFFANFFAA", |_, t, c| {
            J(
                json!({"invoice_id": t.invoice, "full": false, "lines": [], "reason": "Проверка",
                "request_id": null, "key": format!("matrix-{}", tag(c))}),
            )
        }),
        // The first allowed caller rejects it; the others are told it is decided.
        f("reject_refund_request", "UFFANFFAA", |_, t, _| {
            Form(vec![
                ("request_id", s(t.refund_request)),
                ("reason", s("Проверка доступа")),
            ])
        }),
        f("request_refund", "UANFFFFFF", |_, t, _| {
            Form(vec![
                ("order_id", s(t.order)),
                ("full", s(true)),
                ("amount", s("")),
                ("reason", s("Проверка доступа")),
            ])
        }),
        // The resident app.
        f("my_requests", "UAAFFFFFF", |_, _, _| {
            Form(vec![("query", s(""))])
        }),
        f("open_request", "UANFFFFFF", |_, t, _| {
            Form(vec![("order_id", s(t.order))])
        }),
        f("submit_request", "UAAFFFFFF", |fx, _, c| {
            J(json!({"service_id": fx.own_service, "values": [],
                "submit_key": format!("matrix-{}", tag(c))}))
        }),
        f("rate_request", "UANFFFFFF", |_, t, _| {
            Form(vec![
                ("order_id", s(t.order)),
                ("stars", s(5)),
                ("comment", s("")),
            ])
        }),
        f("my_premises", "UAAFFFFFF", |_, _, _| Form(vec![])),
        f("select_premises", "UADFFFFFF", |fx, _, _| {
            Form(vec![("premises_id", s(fx.owner_premises))])
        }),
        // Payments.
        f("pay_screen", "UANFFFFFF", |_, t, _| {
            Form(vec![("invoice_id", s(t.invoice))])
        }),
        f("start_payment", "UANFFFFFF", |_, t, _| {
            Form(vec![
                ("invoice_id", s(t.invoice)),
                ("email", s("r@example.ru")),
                ("save_card", s(false)),
            ])
        }),
        f("payment_result", "UANFFFFFF", |_, t, _| {
            Form(vec![("payment_id", s(t.payment))])
        }),
        f("my_cards", "UAAFFFFFF", |_, _, _| Form(vec![])),
        f("remove_card", "UANFFFFFF", |fx, _, _| {
            Form(vec![("card_id", s(fx.card))])
        }),
        // Last: it ends each caller's session.
        f("sign_out", "AAAAAAAAA", |_, _, _| Form(vec![])),
    ]
}

/// Every route of `suz::server::router` besides the server functions and the pages.
fn routes() -> Vec<Row> {
    fn r(key: &'static str, expect: &'static str, make: Make) -> Row {
        Row {
            kind: Kind::Route,
            key,
            expect,
            make,
        }
    }
    vec![
        r("/healthz", "AAAAAAAAA", |_, _, _| Call::Get(s("/healthz"))),
        r("/staff/orders/{id}/files", "UFFANFFAA", |_, t, _| {
            Call::Upload {
                path: format!("/staff/orders/{}/files", t.order),
                field: "files",
                name: "акт.png",
                bytes: PNG.to_vec(),
            }
        }),
        r("/staff/files/{id}", "UUUANADAA", |_, t, _| {
            Call::Get(format!("/staff/files/{}", t.attachment))
        }),
        r("/uploads", "UAAFFFFFF", |_, _, _| Call::Upload {
            path: s("/uploads"),
            field: "file",
            name: "фото.png",
            bytes: PNG.to_vec(),
        }),
        // A photo not yet sent with a request: only its owner.
        r("/uploads/{id}", "UANNNNNNN", |fx, _, _| {
            Call::Get(format!("/uploads/{}", fx.owner_upload))
        }),
        r("/staff/exports/{id}", "UUUNNNFAN", |fx, _, _| {
            Call::Get(format!("/staff/exports/{}", fx.export_id))
        }),
        r("/staff/finance/export", "UUUFFFAFA", |fx, _, _| {
            Call::Get(format!(
                "/staff/finance/export?entity={}&period={}",
                fx.partner_entity, fx.period_now
            ))
        }),
        r(
            "/staff/admin/entities/{id}/prices/import",
            "UFFFFFFFA",
            |fx, _, _| Call::Upload {
                path: format!("/staff/admin/entities/{}/prices/import", fx.partner_entity),
                field: "file",
                name: "prices.xlsx",
                bytes: fx.price_xlsx.clone(),
            },
        ),
        r(
            "/staff/admin/entities/{id}/prices/export",
            "UUUFFFFFA",
            |fx, _, _| {
                Call::Get(format!(
                    "/staff/admin/entities/{}/prices/export",
                    fx.partner_entity
                ))
            },
        ),
        r("/staff/admin/residents/import", "UFFFFFFFA", |_, _, _| {
            Call::Upload {
                path: s("/staff/admin/residents/import"),
                field: "file",
                name: "residents.csv",
                bytes: "Телефон;ФИО;Адрес\n".as_bytes().to_vec(),
            }
        }),
        r(
            "/staff/admin/services/{id}/cover",
            "UFFFFFFFA",
            |fx, _, _| Call::Upload {
                path: format!("/staff/admin/services/{}/cover", fx.own_service),
                field: "file",
                name: "cover.png",
                bytes: PNG.to_vec(),
            },
        ),
        // Covers are public, like the catalog they illustrate.
        r("/covers/{id}", "AAAAAAAAA", |fx, _, _| {
            Call::Get(format!("/covers/{}", fx.cover_id))
        }),
        // Unsigned: refused for everyone (webhooks are authenticated by their signature).
        r("/payments/webhook", "UUUUUUUUU", |_, _, _| Call::Post {
            path: s("/payments/webhook"),
            content_type: "application/json",
            body: br#"{"event_id":"evt-matrix","type":"payment.succeeded","payment_id":"p"}"#
                .to_vec(),
        }),
        // A shop's own notification address: an unknown account is not there for anyone.
        r("/payments/webhook/{account}", "NNNNNNNNN", |_, _, _| {
            Call::Post {
                path: s("/payments/webhook/999999"),
                content_type: "application/json",
                body: br#"{"type":"notification","event":"payment.succeeded","object":{"id":"p"}}"#
                    .to_vec(),
            }
        }),
        r("/api/live", "UAAAAAAAA", |_, _, _| {
            Call::Get(s("/api/live"))
        }),
        r("/api/chat/photos", "UAAAAFFAA", |_, _, _| Call::Upload {
            path: s("/api/chat/photos"),
            field: "file",
            name: "чат.png",
            bytes: PNG.to_vec(),
        }),
        r("/api/chat/photos/{id}", "UANANADAA", |_, t, _| {
            Call::Get(format!("/api/chat/photos/{}", t.chat_photo))
        }),
        // Demo mode only, from a loopback address (every call of the matrix comes from one).
        r("/dev/sms", "AAAAAAAAA", |_, _, _| Call::Get(s("/dev/sms"))),
    ]
}

/// Every page of the app. Staff pages send residents and visitors to the staff sign-in,
/// resident pages send staff and visitors to the resident sign-in.
fn pages() -> Vec<Row> {
    fn p(key: &'static str, expect: &'static str, make: Make) -> Row {
        Row {
            kind: Kind::Page,
            key,
            expect,
            make,
        }
    }
    // Pages of a section the role has no access to answer 403.
    const STAFF: &str = "UUUAAAAAA";
    const RESIDENT: &str = "UAAUUUUUU";
    vec![
        p("/login", "AAAAAAAAA", |_, _, _| Call::Get(s("/login"))),
        p("/staff/login", "AAAAAAAAA", |_, _, _| {
            Call::Get(s("/staff/login"))
        }),
        p("/staff", STAFF, |_, _, _| Call::Get(s("/staff"))),
        p("/staff/orders", "UUUFFAFAA", |_, _, _| {
            Call::Get(s("/staff/orders"))
        }),
        p("/staff/orders/mine", "UUUAAAFAA", |_, _, _| {
            Call::Get(s("/staff/orders/mine"))
        }),
        p("/staff/orders/new", "UUUAAFFAA", |_, _, _| {
            Call::Get(s("/staff/orders/new"))
        }),
        p("/staff/orders/drafts", "UUUAAFFAA", |_, _, _| {
            Call::Get(s("/staff/orders/drafts"))
        }),
        // An order the employee may not see answers 404.
        p("/staff/orders/{id}", "UUUANANAA", |_, t, _| {
            Call::Get(format!("/staff/orders/{}", t.order))
        }),
        p("/staff/finance", "UUUFFFAFA", |_, _, _| {
            Call::Get(s("/staff/finance"))
        }),
        p("/staff/finance/terms", "UUUFFFAFA", |_, _, _| {
            Call::Get(s("/staff/finance/terms"))
        }),
        p("/staff/finance/orders/{id}", "UUUFFFAFA", |_, t, _| {
            Call::Get(format!("/staff/finance/orders/{}", t.order))
        }),
        p(
            "/staff/finance/{entity}/{period}",
            "UUUFFFAFA",
            |fx, _, _| {
                Call::Get(format!(
                    "/staff/finance/{}/{}",
                    fx.partner_entity, fx.period_now
                ))
            },
        ),
        p("/staff/admin", STAFF, |_, _, _| {
            Call::Get(s("/staff/admin"))
        }),
        p("/staff/admin/roles", "UUUFFFFFA", |_, _, _| {
            Call::Get(s("/staff/admin/roles"))
        }),
        p("/staff/admin/staff", "UUUFFFFFA", |_, _, _| {
            Call::Get(s("/staff/admin/staff"))
        }),
        p("/staff/admin/entities", "UUUFFFFFA", |_, _, _| {
            Call::Get(s("/staff/admin/entities"))
        }),
        p("/staff/admin/entities/{id}", "UUUFFFFFA", |fx, _, _| {
            Call::Get(format!("/staff/admin/entities/{}", fx.partner_entity))
        }),
        p("/staff/admin/catalog", "UUUFFFFFA", |_, _, _| {
            Call::Get(s("/staff/admin/catalog"))
        }),
        p("/staff/admin/services/{id}", "UUUFFFFFA", |fx, _, _| {
            Call::Get(format!("/staff/admin/services/{}", fx.own_service))
        }),
        p("/staff/admin/residents", "UUUFFFFFA", |_, _, _| {
            Call::Get(s("/staff/admin/residents"))
        }),
        p("/staff/admin/audit", "UUUFFFFFA", |_, _, _| {
            Call::Get(s("/staff/admin/audit"))
        }),
        p("/staff/profile", STAFF, |_, _, _| {
            Call::Get(s("/staff/profile"))
        }),
        p("/staff/chats", "UUUFFFFAA", |_, _, _| {
            Call::Get(s("/staff/chats"))
        }),
        p("/staff/chats/{id}", "UUUFFFFAA", |fx, _, _| {
            Call::Get(format!("/staff/chats/{}", fx.dialogue))
        }),
        p("/staff/notifications", STAFF, |_, _, _| {
            Call::Get(s("/staff/notifications"))
        }),
        p("/staff/admin/notifications", "UUUFFFFFA", |_, _, _| {
            Call::Get(s("/staff/admin/notifications"))
        }),
        p("/", RESIDENT, |_, _, _| Call::Get(s("/"))),
        p("/catalog/{id}", RESIDENT, |fx, _, _| {
            Call::Get(format!("/catalog/{}", fx.category))
        }),
        p("/services/{id}", RESIDENT, |fx, _, _| {
            Call::Get(format!("/services/{}", fx.own_service))
        }),
        p("/requests", RESIDENT, |_, _, _| Call::Get(s("/requests"))),
        // Another resident's request answers 404.
        p("/requests/{id}", "UANUUUUUU", |_, t, _| {
            Call::Get(format!("/requests/{}", t.order))
        }),
        p("/requests/{id}/pay/{invoice}", "UANUUUUUU", |_, t, _| {
            Call::Get(format!("/requests/{}/pay/{}", t.order, t.invoice))
        }),
        p("/profile", RESIDENT, |_, _, _| Call::Get(s("/profile"))),
        p("/chats/{id}", "UARUUUUUU", |fx, _, _| {
            Call::Get(format!("/chats/{}", fx.dialogue))
        }),
        p("/notifications", RESIDENT, |_, _, _| {
            Call::Get(s("/notifications"))
        }),
    ]
}

// ---------------------------------------------------------------------------------------
// Calling

struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

fn request(app: &common::TestApp, call: &Call, key: &str, cookie: Option<&str>) -> Request<Body> {
    let origin = app.state.config.public_url.clone();
    let (mut builder, body) = match call {
        Call::Form(pairs) => {
            let body = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", suz::url::encode(k), suz::url::encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            (
                Request::post(format!("/api/{key}"))
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .header(http::header::ACCEPT, "application/json")
                    .header(http::header::ORIGIN, &origin),
                Body::from(body),
            )
        }
        Call::Json(v) => (
            Request::post(format!("/api/{key}"))
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(http::header::ACCEPT, "application/json")
                .header(http::header::ORIGIN, &origin),
            Body::from(v.to_string()),
        ),
        Call::Get(path) => (Request::get(path), Body::empty()),
        Call::Upload {
            path,
            field,
            name,
            bytes,
        } => {
            let boundary = "----suz-matrix-boundary";
            let mut body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .into_bytes();
            body.extend_from_slice(bytes);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            (
                Request::post(path)
                    .header(
                        http::header::CONTENT_TYPE,
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .header(http::header::ORIGIN, &origin),
                Body::from(body),
            )
        }
        Call::Post {
            path,
            content_type,
            body,
        } => (
            Request::post(path)
                .header(http::header::CONTENT_TYPE, *content_type)
                .header(http::header::ORIGIN, &origin),
            Body::from(body.clone()),
        ),
    };
    if let Some(c) = cookie {
        builder = builder.header(http::header::COOKIE, c);
    }
    let mut req = builder.body(body).expect("request");
    // Every call comes from a loopback address, as the browser of a local user does.
    req.extensions_mut()
        .insert(ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            40_000,
        ))));
    req
}

async fn send(app: &common::TestApp, req: Request<Body>) -> Answer {
    let streaming = req.uri().path() == "/api/live";
    let res = app.router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let location = res
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = if streaming && status.is_success() {
        // The live stream never ends; its opening is the answer.
        String::new()
    } else {
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Answer {
        status,
        location,
        body,
    }
}

/// What an answer means: `Ok((letter, note))` with `A`, `U`, `F` or `N`, or `Err` for an
/// answer that is no valid outcome at all (a failure, wrongly shaped arguments).
fn classify(kind: Kind, a: &Answer, statuses_wired: bool) -> Result<(char, String), String> {
    if a.status.is_success() {
        return Ok(('A', format!("{}", a.status.as_u16())));
    }
    if a.status.is_redirection() {
        let to = a.location.clone().unwrap_or_default();
        if to.starts_with("/staff/login") || to.starts_with("/login") {
            return Ok(('U', format!("→ {to}")));
        }
        if let Some((_, message)) = to.split_once("_error=") {
            let message = percent_decode(message.split('&').next().unwrap_or_default());
            return Ok(match message.as_str() {
                m if m == AppError::Unauthorized.to_string() => ('U', m.to_owned()),
                m if m == AppError::Forbidden.to_string() => ('F', m.to_owned()),
                m if m == AppError::NotFound.to_string() => ('N', m.to_owned()),
                m => ('A', format!("→ {m}")),
            });
        }
        return Ok(('A', format!("→ {to}")));
    }
    if kind == Kind::ServerFn || a.body.starts_with('{') || a.body.starts_with('"') {
        if let Ok(err) = serde_json::from_str::<AppError>(&a.body) {
            let fits = a.status.as_u16() == err.status_code();
            if statuses_wired && !fits {
                return Err(format!(
                    "status {} does not fit {err:?} ({})",
                    a.status,
                    err.status_code()
                ));
            }
            return match err {
                AppError::Unauthorized => Ok(('U', s("Unauthorized"))),
                AppError::Forbidden => Ok(('F', s("Forbidden"))),
                AppError::NotFound => Ok(('N', s("NotFound"))),
                AppError::Internal | AppError::Transport => Err(format!("{err:?}")),
                AppError::Validation(m) if m == "Не все поля заполнены верно" => {
                    Err(format!("arguments of the wrong shape: {m}"))
                }
                other => Ok(('A', format!("{other:?}"))),
            };
        }
        if kind == Kind::ServerFn {
            return Err(format!("{}: {}", a.status, a.body));
        }
    }
    match a.status.as_u16() {
        401 => Ok(('U', s("401"))),
        403 => Ok(('F', s("403"))),
        404 => Ok(('N', s("404"))),
        400 | 409 | 413 | 422 | 429 => Ok(('A', format!("{} {}", a.status, a.body))),
        _ => Err(format!("{}: {}", a.status, a.body)),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn fits(expect: char, got: char, body: &str) -> bool {
    match expect {
        'D' => got == 'F' || got == 'N',
        // No data: a refusal, an error answer (e.g. «enter the full phone number») or
        // an empty list.
        'E' => {
            got == 'F'
                || got == 'N'
                || serde_json::from_str::<AppError>(body).is_ok()
                || body.trim() == "[]"
        }
        // A streamed page (not rendered whole on the server) may have sent its 200 before
        // its data were refused: then the page it sends shows the refusal.
        'R' => {
            got == 'N'
                || (got == 'A'
                    && body.contains("load-error")
                    && body.contains(&AppError::NotFound.to_string()))
        }
        e => e == got,
    }
}

// ---------------------------------------------------------------------------------------
// Fingerprint

/// Tables that change on requests by design (see the module's comment).
fn excluded(table: &str) -> bool {
    matches!(table, "sessions" | "auth_attempts" | "rate_events")
}

async fn fingerprint(app: &common::TestApp) -> BTreeMap<String, String> {
    let pool = app.pool();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "select name, coalesce(sql, '') from sqlite_schema where type = 'table' and name not like 'sqlite_%' order by name",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    let mut out = BTreeMap::new();
    for (table, sql) in tables {
        if excluded(&table) || sql.to_lowercase().starts_with("create virtual table") {
            continue;
        }
        let columns: Vec<String> =
            sqlx::query_scalar(&format!("select name from pragma_table_info('{table}')"))
                .fetch_all(pool)
                .await
                .expect("columns");
        let row = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        let (count, rows): (i64, String) = sqlx::query_as(&format!(
            "select count(*), coalesce(group_concat(r, char(10)), '') from (select {row} as r from \"{table}\" order by r)"
        ))
        .fetch_one(pool)
        .await
        .expect("table rows");
        let mut h = std::collections::hash_map::DefaultHasher::new();
        rows.hash(&mut h);
        out.insert(table, format!("{count} rows, {:016x}", h.finish()));
    }
    let mut files = Vec::new();
    let mut dirs = vec![app.data_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("data dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if !path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("test.db"))
            {
                files.push(path.display().to_string());
            }
        }
    }
    files.sort();
    out.insert("(files)".into(), files.join("\n"));
    out
}

fn differences(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| format!("{k}: {:?} → {:?}", before.get(k), after.get(k)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Background work an allowed call started (an export) finishes before the next call, so
/// that it never shows up in the fingerprint of a refusal.
async fn settle(app: &common::TestApp) {
    for _ in 0..3000 {
        let running: i64 =
            sqlx::query_scalar("select count(*) from exports where state = 'running'")
                .fetch_one(app.pool())
                .await
                .expect("exports");
        if running == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("an export kept running");
}

// ---------------------------------------------------------------------------------------
// Set-up

async fn upload_as(
    app: &common::TestApp,
    cookie: &str,
    path: &str,
    field: &'static str,
    name: &'static str,
) -> Answer {
    let call = Call::Upload {
        path: path.to_owned(),
        field,
        name,
        bytes: PNG.to_vec(),
    };
    send(app, request(app, &call, "", Some(cookie))).await
}

/// An order of the owner for `service`, invoiced by its assignee, paid by card on the
/// sandbox's page, «В работе», with two attachments of the administrator, a chat photo of
/// the owner and the owner's refund request.
async fn target(
    app: &common::TestApp,
    cookies: &Cookies,
    assignee: &str,
    service: &str,
    values: &[(&str, &str)],
    item: &str,
) -> Target {
    use suz::payments::service::{self as payments, PayChoice};
    let owner = app.resident_id("+79000000001").await;
    let item_key = assignee.split('@').next().unwrap_or_default();
    let when = suz::time::LocalDateTime::from_unix(now() + 7 * 86_400, 180);
    let visit = format!("{:04}-{:02}-{:02}T10:00", when.year, when.month, when.day);
    let values: Vec<(&str, &str)> = values
        .iter()
        .map(|(k, v)| (*k, if *k == "visit" { visit.as_str() } else { *v }))
        .collect();
    let input = suz::requests::service::SubmitInput {
        service_id: app.service_id(service).await,
        values: values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        submit_key: format!("matrix-order-{item_key}"),
    };
    let order = suz::requests::service::submit(app.pool(), owner, input, 180, now())
        .await
        .expect("submitted")
        .order_id;
    let staff = app.staff_user(assignee).await;
    let lines = [suz::invoices::rules::LineInput {
        price_item_id: app.price_item(item).await,
        quantity: "1".into(),
        discount_kind: suz::invoices::rules::DiscountKind::None,
        discount_value: String::new(),
    }];
    let invoice = app.issue_invoice(&staff, order, &lines).await;
    let started = payments::start(
        &app.state,
        owner,
        invoice,
        PayChoice {
            method: suz::payments::gateway::PayMethod::Card,
            email: "r@example.ru".into(),
            card_id: None,
            save_card: true,
        },
        now(),
    )
    .await
    .expect("payment started");
    app.pay_on_sandbox_page(
        &started.redirect_url.expect("a hosted page"),
        suz::payments::sandbox::cards::SUCCESS,
    )
    .await;
    suz::server::jobs::tick(&app.state, now() + 5).await;
    let payment = scalar(
        app,
        "select payment_id from payments where invoice_id = ? order by payment_id desc limit 1",
        invoice,
    )
    .await;
    let version = scalar(app, "select version from orders where order_id = ?", order).await;
    suz::orders::service::change_state(
        app.pool(),
        &staff,
        suz::orders::service::StateChange {
            order_id: order,
            version,
            status: suz::orders::status::OrderStatus::InProgress,
            assignee_id: Some(staff.staff_id),
            comment: String::new(),
        },
        now(),
    )
    .await
    .expect("in progress");
    let files = format!("/staff/orders/{order}/files");
    for name in ["акт.png", "смета.png"] {
        let up = upload_as(app, &cookies.admin, &files, "files", name).await;
        assert!(
            up.location.as_deref() == Some(files.trim_end_matches("/files")),
            "attachment upload: {} {:?} {}",
            up.status,
            up.location,
            up.body
        );
    }
    let attachments: Vec<i64> = sqlx::query_scalar(
        "select attachment_id from attachments where order_id = ? order by attachment_id",
    )
    .bind(order)
    .fetch_all(app.pool())
    .await
    .expect("attachments");
    let photo = upload_as(app, &cookies.owner, "/api/chat/photos", "file", "чат.png").await;
    assert!(photo.status.is_success(), "chat photo: {}", photo.body);
    let chat_photo = serde_json::from_str::<Value>(&photo.body).expect("json")["upload_id"]
        .as_i64()
        .expect("a photo id");
    let sent = app
        .call_json(
            "send_request_message",
            &json!({"order_id": order, "body": "Вот фото", "key": format!("photo-{order}"),
                "photos": [chat_photo]})
            .to_string(),
            &cookies.owner,
        )
        .await;
    assert!(sent.status.is_success(), "chat message: {}", sent.body);
    suz::refunds::service::request(app.pool(), owner, order, true, "", "Передумал", now())
        .await
        .expect("refund requested");
    let refund_request = scalar(
        app,
        "select request_id from refund_requests where order_id = ? order by request_id desc limit 1",
        order,
    )
    .await;
    Target {
        order,
        invoice,
        payment,
        attachment: attachments[0],
        attachment_del: attachments[1],
        chat_photo,
        refund_request,
    }
}

struct Cookies {
    owner: String,
    other: String,
    master_assigned: String,
    master_other: String,
    viewer: String,
    accountant: String,
    dispatcher: String,
    admin: String,
}

impl Cookies {
    fn of(&self, c: Caller) -> Option<&str> {
        Some(match c {
            Caller::Anonymous => return None,
            Caller::Owner => &self.owner,
            Caller::OtherResident => &self.other,
            Caller::MasterAssigned => &self.master_assigned,
            Caller::MasterNotAssigned => &self.master_other,
            Caller::Viewer => &self.viewer,
            Caller::Accountant => &self.accountant,
            Caller::Dispatcher => &self.dispatcher,
            Caller::Admin => &self.admin,
        })
    }
}

async fn setup(app: &common::TestApp) -> (Fx, Cookies) {
    let cookies = Cookies {
        owner: app.resident_cookie("+79000000001").await,
        other: app.resident_cookie("+79000000002").await,
        master_assigned: app.staff_cookie("master@demo.ru").await,
        master_other: app.staff_cookie("master@demo.ru").await,
        viewer: app.staff_cookie("viewer@demo.ru").await,
        accountant: app.staff_cookie("accountant@demo.ru").await,
        dispatcher: app.staff_cookie("dispatcher@demo.ru").await,
        admin: app.staff_cookie("admin@demo.ru").await,
    };
    let a = target(
        app,
        &cookies,
        "master@demo.ru",
        "Устранение засора",
        &[("where", "Ванна"), ("visit", "")],
        "Прочистка засора",
    )
    .await;
    let b = target(
        app,
        &cookies,
        "cleaner@demo.ru",
        "Мойка окон",
        &[("windows", "2"), ("visit", "")],
        "Мойка окна",
    )
    .await;
    let owner = app.resident_id("+79000000001").await;
    let premises_of = |id: i64| async move {
        scalar(
            app,
            "select premises_id from resident_premises where resident_id = ? order by premises_id limit 1",
            id,
        )
        .await
    };
    let owner_premises = premises_of(owner).await;
    let spare_resident = app.resident_id("+79000000010").await;
    let spare_premises = premises_of(spare_resident).await;
    let up = upload_as(app, &cookies.owner, "/uploads", "file", "фото.png").await;
    assert!(up.status.is_success(), "upload: {}", up.body);
    let owner_upload = serde_json::from_str::<Value>(&up.body).expect("json")["upload_id"]
        .as_i64()
        .expect("an upload id");
    let card = scalar(
        app,
        "select card_id from saved_cards where resident_id = ? order by card_id limit 1",
        owner,
    )
    .await;
    suz::server::jobs::tick(&app.state, now() + 10).await;
    let notification: i64 = sqlx::query_scalar(
        "select notification_id from notifications where recipient = ? order by notification_id limit 1",
    )
    .bind(format!("r{owner}"))
    .fetch_one(app.pool())
    .await
    .expect("a notification of the owner");
    let chat_service = app.service_id("Замена смесителя").await;
    let dialogue = suz::chat::service::open_dialogue(
        app.pool(),
        owner,
        Some(owner_premises),
        chat_service,
        now(),
    )
    .await
    .expect("dialogue");
    let own_service = app.service_id("Устранение засора").await;
    let dispatcher = app.staff_user("dispatcher@demo.ru").await;
    let draft = suz::orders::drafts::ssr::save(
        app.pool(),
        &dispatcher,
        suz::orders::drafts::ssr::DraftInput {
            draft_id: None,
            resident_id: owner,
            premises_id: owner_premises,
            service_id: own_service,
            values: vec![],
        },
        false,
        180,
        now(),
    )
    .await
    .expect("draft");
    let export = app
        .call_json(
            "start_export",
            &json!({"scope": "All", "filter": suz::orders::filter::OrderFilter::default()})
                .to_string(),
            &cookies.dispatcher,
        )
        .await;
    assert!(export.status.is_success(), "export: {}", export.body);
    let export: suz::orders::export::ExportProgress =
        serde_json::from_str(&export.body).expect("export progress");
    settle(app).await;
    let partner_entity = scalar(
        app,
        "select legal_entity_id from services where service_id = ?",
        own_service,
    )
    .await;
    let price_path = format!("/staff/admin/entities/{partner_entity}/prices/export");
    let price_xlsx = app.get_bytes(&price_path, &cookies.admin).await;
    let import = send(
        app,
        request(
            app,
            &Call::Upload {
                path: format!("/staff/admin/entities/{partner_entity}/prices/import"),
                field: "file",
                name: "prices.xlsx",
                bytes: price_xlsx.clone(),
            },
            "",
            Some(&cookies.admin),
        ),
    )
    .await;
    let import_id = import
        .location
        .as_deref()
        .and_then(|l| l.split_once("?import="))
        .map(|(_, id)| id.to_owned())
        .unwrap_or_else(|| panic!("import: {} {:?}", import.status, import.location));
    let cover = upload_as(
        app,
        &cookies.admin,
        &format!("/staff/admin/services/{own_service}/cover"),
        "file",
        "cover.png",
    )
    .await;
    assert!(cover.status.is_redirection(), "cover: {}", cover.body);
    let cover_id: String = sqlx::query_scalar("select cover_id from covers limit 1")
        .fetch_one(app.pool())
        .await
        .expect("a cover");
    let zone = suz::finance::service::zone();
    let period = suz::finance::rules::Period::of(now(), zone);
    let fx = Fx {
        a,
        b,
        owner,
        owner_premises,
        owner_upload,
        card,
        notification,
        dialogue,
        draft,
        export_id: export.export_id,
        import_id,
        cover_id,
        category: scalar(
            app,
            "select category_id from services where service_id = ?",
            own_service,
        )
        .await,
        own_service,
        foreign_service: app.service_id("Мойка окон").await,
        chat_service,
        partner_entity,
        cleaner: app.staff_id("cleaner@demo.ru").await,
        viewer_role: scalar(
            app,
            "select role_id from staff where staff_id = ?",
            app.staff_id("viewer@demo.ru").await,
        )
        .await,
        spare_resident,
        spare_premises,
        period_now: period.to_string(),
        period_prev: period.prev().to_string(),
        price_xlsx,
    };
    (fx, cookies)
}

// ---------------------------------------------------------------------------------------
// The test

/// The paths of `.route(...)` in the router's source.
fn router_paths() -> BTreeSet<String> {
    let source = include_str!("../../src/server/mod.rs");
    source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.trim_start().strip_prefix('"')?;
            Some(rest.split('"').next()?.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn every_server_function_route_and_page_answers_each_caller_as_the_matrix_says() {
    let app = common::spawn_served().await;

    // The table covers exactly what is registered.
    // Signing out ends each caller's session: it goes last.
    let (sign_out, fns): (Vec<Row>, Vec<Row>) =
        server_fns().into_iter().partition(|r| r.key == "sign_out");
    let rows: Vec<Row> = fns
        .into_iter()
        .chain(routes())
        .chain(pages())
        .chain(sign_out)
        .collect();
    let keys = |kind: Kind| -> BTreeSet<String> {
        rows.iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.key.to_owned())
            .collect()
    };
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| {
            path.strip_prefix("/api/")
                .unwrap_or_else(|| panic!("a server function outside /api: {path}"))
                .to_owned()
        })
        .collect();
    assert!(registered.len() > 80, "registry: {registered:?}");
    let listed = keys(Kind::ServerFn);
    assert_eq!(
        registered.difference(&listed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "server functions without an entry in the matrix"
    );
    assert_eq!(
        listed.difference(&registered).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "entries of the matrix that are no server function"
    );
    let router = router_paths();
    let listed = keys(Kind::Route);
    assert_eq!(
        router.difference(&listed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "routes without an entry in the matrix"
    );
    assert_eq!(
        listed.difference(&router).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "entries of the matrix that are no route"
    );
    let app_pages: BTreeSet<String> = leptos_axum::generate_route_list(suz::app::App)
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    let listed = keys(Kind::Page);
    assert_eq!(
        app_pages.difference(&listed).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "pages without an entry in the matrix"
    );
    assert_eq!(
        listed.difference(&app_pages).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "entries of the matrix that are no page"
    );
    for row in &rows {
        assert!(
            row.expect.len() == CALLERS.len() && row.expect.chars().all(|c| "AUFNDER".contains(c)),
            "{}: bad expectation {}",
            row.key,
            row.expect
        );
    }

    let (fx, cookies) = setup(&app).await;

    // Refusals answer their status once the statuses are wired (issue 16, item 3); until
    // then every refusal is a 500 with the error in the body.
    let probe = send(
        &app,
        request(
            &app,
            &Call::Form(vec![("order_id", s(fx.a.order))]),
            "order_card",
            None,
        ),
    )
    .await;
    let statuses_wired = probe.status == StatusCode::UNAUTHORIZED;

    let mut failures = Vec::new();
    let mut table = Vec::new();
    let (mut calls, mut denials, mut allowed) = (0, 0, 0);
    let mut last = fingerprint(&app).await;
    // The fingerprint sees a change of one value in one row, not only row counts.
    let touch = "update invoices set created_at = created_at + ? where invoice_id = ?";
    for step in [1, -1] {
        sqlx::query(touch)
            .bind(step)
            .bind(fx.a.invoice)
            .execute(app.pool())
            .await
            .expect("touch");
        let touched = fingerprint(&app).await;
        assert_eq!(
            touched != last,
            step == 1,
            "{}",
            differences(&last, &touched)
        );
    }
    for row in &rows {
        let mut answers = String::new();
        let mut notes = BTreeSet::new();
        for (i, caller) in CALLERS.iter().enumerate() {
            let expect = row.expect.as_bytes()[i] as char;
            let t = if *caller == Caller::MasterNotAssigned {
                &fx.b
            } else {
                &fx.a
            };
            let call = (row.make)(&fx, t, *caller);
            let answer = send(&app, request(&app, &call, row.key, cookies.of(*caller))).await;
            calls += 1;
            settle(&app).await;
            let after = fingerprint(&app).await;
            match classify(row.kind, &answer, statuses_wired) {
                Err(e) => failures.push(format!("{} as {caller:?}: {e}", row.key)),
                Ok((got, note)) => {
                    answers.push(got);
                    if got == 'A' && !note.starts_with('2') {
                        notes.insert(note.chars().take(60).collect::<String>());
                    }
                    if !fits(expect, got, &answer.body) {
                        failures.push(format!(
                            "{} as {caller:?}: expected {expect}, got {got} ({note}) {}",
                            row.key,
                            answer.body.chars().take(160).collect::<String>()
                        ));
                    }
                    // A streamed page that shows a refusal is one.
                    if got == 'A' && expect != 'R' {
                        allowed += 1;
                    } else {
                        denials += 1;
                        if after != last {
                            failures.push(format!(
                                "{} as {caller:?} was refused ({note}) but changed: {}",
                                row.key,
                                differences(&last, &after)
                            ));
                        }
                    }
                }
            }
            last = after;
        }
        table.push(format!(
            "{:<40} {} {answers} {}",
            row.key,
            row.expect,
            notes.into_iter().collect::<Vec<_>>().join(" | ")
        ));
    }
    println!(
        "entry, expected, answered (allowed answers other than 2xx):\n{}",
        table.join("\n")
    );
    println!(
        "authorization matrix: {} entries ({} server functions, {} routes, {} pages) × {} callers = {calls} calls, {denials} denials, {allowed} allowed; refusal statuses checked: {statuses_wired}",
        rows.len(),
        rows.iter().filter(|r| r.kind == Kind::ServerFn).count(),
        rows.iter().filter(|r| r.kind == Kind::Route).count(),
        rows.iter().filter(|r| r.kind == Kind::Page).count(),
        CALLERS.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {calls} calls answered otherwise than the matrix says:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
