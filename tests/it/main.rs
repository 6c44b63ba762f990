//! The database and HTTP tests, linked into one test binary (one link instead of one per
//! file keeps the cold build and its disk use small). Each module is one area.

#[macro_use]
mod common;

mod admin;
mod admin_payments;
mod auth_db;
mod authz_matrix;
mod chat;
mod crash;
mod drafts_db;
mod fake_tbank;
mod fake_yookassa;
mod finance;
mod fuzz;
mod http_auth;
mod http_orders;
mod http_security;
mod limits;
mod list_plans;
mod notifications;
mod orders_db;
mod payments;
mod receipts;
mod refunds;
mod refusals;
mod resident_app;
mod sbp;
mod tbank;
mod uploads_imports;
mod yookassa;
